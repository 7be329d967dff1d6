/** "Run now": a trigger payload (JSON) for a manual execution; on success, goes to the execution. */
import { useState } from 'react';
import { useExecuteSchema } from '../../api/hooks';
import { Dialog } from '../Dialog';
import { ErrorBanner } from '../ErrorList';
import { Field } from '../Field';
import { parseJson } from '../JsonText';

export function RunDialog({ schemaId, onClose, onStarted }: { schemaId: string; onClose: () => void; onStarted: (executionId: string) => void }) {
  const [text, setText] = useState('{\n  \n}');
  const [err, setErr] = useState<string | null>(null);
  const exec = useExecuteSchema();
  const run = async () => {
    const [payload, parseErr] = parseJson(text);
    if (parseErr || payload === undefined) return setErr(parseErr);
    setErr(null);
    try {
      const ex = await exec.mutateAsync({ id: schemaId, payload });
      onStarted(ex.id);
    } catch {
      /* shown below */
    }
  };
  return (
    <Dialog
      title="Run now"
      onClose={onClose}
      testId="run-dialog"
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="button" className="btn btn-primary" data-testid="run-submit" disabled={exec.isPending} onClick={() => void run()}>
            {exec.isPending ? 'Starting…' : 'Run'}
          </button>
        </>
      }
    >
      <Field id="run-payload" label="Trigger payload (JSON, available as trigger)" errors={err ? [err] : undefined}>
        {(control) => (
          <textarea {...control} className="mono" rows={10} spellCheck={false} value={text} data-testid="run-payload" onChange={(e) => setText(e.target.value)} />
        )}
      </Field>
      <ErrorBanner error={exec.error} />
    </Dialog>
  );
}
