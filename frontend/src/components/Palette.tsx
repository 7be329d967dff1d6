/** The node palette, built from GET /api/node-types/ and grouped; drag onto the canvas or press Enter. */
import { useMemo, useState } from 'react';
import type { NodeTypeSpec } from '../api/types';
import { GROUP_ICON, GROUP_LABEL, GROUP_ORDER } from '../nodes/EditorContext';

export const DND_MIME = 'application/x-schema-node-type';

export function Palette({ specs, onAdd, onAddNote }: { specs: NodeTypeSpec[]; onAdd: (spec: NodeTypeSpec) => void; onAddNote?: () => void }) {
  const [q, setQ] = useState('');
  const groups = useMemo(() => {
    const needle = q.trim().toLowerCase();
    const shown = specs.filter(
      (s) => !needle || s.label.toLowerCase().includes(needle) || s.type.includes(needle) || s.description.toLowerCase().includes(needle),
    );
    const order = [...GROUP_ORDER, ...new Set(shown.map((s) => s.group).filter((g) => !(GROUP_ORDER as readonly string[]).includes(g)))];
    return order.map((g) => ({ group: g, items: shown.filter((s) => s.group === g) })).filter((g) => g.items.length);
  }, [specs, q]);
  return (
    <aside className="palette" aria-label="Node palette" data-testid="palette">
      <input
        type="search"
        className="palette-search"
        placeholder="Search nodes…"
        aria-label="Search nodes"
        value={q}
        onChange={(e) => setQ(e.target.value)}
      />
      {groups.map(({ group, items }) => (
        <section key={group} className="palette-group" data-testid={`palette-group-${group}`}>
          <h2 className="palette-heading">{GROUP_LABEL[group] ?? group}</h2>
          <ul>
            {items.map((s) => (
              <li key={s.type}>
                <button
                  type="button"
                  className={`palette-item group-${s.group}`}
                  draggable
                  data-testid={`palette-${s.type}`}
                  title={s.description || s.label}
                  aria-label={`${s.label}${s.side_effects ? ' · side effects' : ''}: add node (drag onto the canvas or press Enter)`}
                  onDragStart={(e) => {
                    e.dataTransfer.setData(DND_MIME, s.type);
                    e.dataTransfer.setData('text/plain', s.type);
                    e.dataTransfer.effectAllowed = 'move';
                  }}
                  onClick={() => onAdd(s)}
                >
                  <span className="palette-icon" aria-hidden="true">
                    {GROUP_ICON[s.group] ?? '•'}
                  </span>
                  <span>
                    <span className="palette-label">{s.label}</span>
                    {s.side_effects && <span className="palette-fx" title="Has side effects"> · side effects</span>}
                  </span>
                </button>
              </li>
            ))}
          </ul>
        </section>
      ))}
      {onAddNote && (
        <section className="palette-group">
          <h2 className="palette-heading">Canvas</h2>
          <button type="button" className="palette-item palette-note" data-testid="add-note" title="A sticky note: text on the canvas, never executed" onClick={onAddNote}>
            <span className="palette-icon" aria-hidden="true">
              ▤
            </span>
            <span className="palette-label">Sticky note</span>
          </button>
        </section>
      )}
    </aside>
  );
}
