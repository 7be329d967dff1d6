/**
 * A side panel of the editor that the user can fold away to give the canvas room: a tab on the
 * canvas edge hides or shows it, and the choice is remembered in localStorage.
 */
import { useId, type ReactNode } from 'react';
import { usePersistentFlag } from '../../hooks/usePersistentFlag';

export function CollapsiblePanel({
  side,
  name,
  storageKey,
  testId,
  children,
}: {
  side: 'left' | 'right';
  /** What the panel is, for the tab: "node palette", "details". */
  name: string;
  storageKey: string;
  testId: string;
  children: ReactNode;
}) {
  const [collapsed, setCollapsed] = usePersistentFlag(storageKey);
  const id = useId();
  const arrow = (side === 'left') === collapsed ? '›' : '‹';
  return (
    <div className={`panel-slot panel-slot-${side}${collapsed ? ' collapsed' : ''}`} data-testid={testId} data-collapsed={collapsed}>
      <button
        type="button"
        className="panel-toggle"
        aria-expanded={!collapsed}
        aria-controls={id}
        aria-label={`${collapsed ? 'Show' : 'Hide'} ${name}`}
        title={`${collapsed ? 'Show' : 'Hide'} ${name}`}
        data-testid={`${testId}-toggle`}
        onClick={() => setCollapsed(!collapsed)}
      >
        <span aria-hidden="true">{arrow}</span>
        {collapsed && (
          <span className="panel-toggle-name" aria-hidden="true">
            {name}
          </span>
        )}
      </button>
      <div id={id} className="panel-slot-body" hidden={collapsed}>
        {children}
      </div>
    </div>
  );
}
