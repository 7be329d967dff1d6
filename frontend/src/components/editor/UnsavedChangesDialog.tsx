/** Asked when leaving the editor with unsaved changes: stay, discard and leave, or save and leave. */
import { Dialog } from '../Dialog';

export function UnsavedChangesDialog({ onStay, onLeave, save }: { onStay: () => void; onLeave: () => void; save: () => Promise<boolean> }) {
  return (
    <Dialog
      title="Unsaved changes"
      onClose={onStay}
      testId="unsaved-dialog"
      footer={
        <>
          <button type="button" className="btn" onClick={onStay}>
            Stay
          </button>
          <button type="button" className="btn btn-danger" data-testid="discard-changes" onClick={onLeave}>
            Discard and leave
          </button>
          <button
            type="button"
            className="btn btn-primary"
            onClick={async () => {
              if (await save()) onLeave();
              else onStay();
            }}
          >
            Save and leave
          </button>
        </>
      }
    >
      <p>This schema has changes that are not saved.</p>
    </Dialog>
  );
}
