/**
 * Keeps unsaved changes from being lost: the browser's own prompt when the tab is closed or
 * reloaded, and a router blocker (for our dialog) on in-app navigation to another page.
 */
import { useEffect } from 'react';
import { useBlocker, type Blocker } from 'react-router-dom';

export function useUnsavedChangesGuard(dirty: boolean): Blocker {
  useEffect(() => {
    if (!dirty) return;
    const onBeforeUnload = (e: BeforeUnloadEvent) => {
      e.preventDefault();
      e.returnValue = '';
    };
    window.addEventListener('beforeunload', onBeforeUnload);
    return () => window.removeEventListener('beforeunload', onBeforeUnload);
  }, [dirty]);
  return useBlocker(({ currentLocation, nextLocation }) => dirty && currentLocation.pathname !== nextLocation.pathname);
}
