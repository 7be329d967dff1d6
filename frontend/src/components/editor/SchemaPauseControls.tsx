/** Pause, resume or drain the whole schema (acts at once, not with Save): a paused schema starts nothing new. */
import { useSchema, useSchemaAction, useDrainSchema, useDrainStatus } from '../../api/hooks';

export function SchemaPauseControls({ schemaId }: { schemaId: string }) {
  const schema = useSchema(schemaId);
  const action = useSchemaAction();
  const drain = useDrainSchema();
  const paused = Boolean(schema.data?.paused_at);
  const status = useDrainStatus(schemaId, paused);
  const busy = action.isPending || drain.isPending;
  const report = status.data;
  return (
    <div className="pause-controls" data-testid="schema-pause-controls">
      <p data-testid="schema-pause-state" role="status">
        {!paused
          ? 'Running: triggers start executions.'
          : report?.drained
            ? `Paused · drained: nothing running${report.held ? `, ${report.held} held until resumed` : ''}.`
            : `Paused · ${report?.running ?? '…'} still running${report?.held ? `, ${report.held} held until resumed` : ''}.`}
      </p>
      {paused ? (
        <button type="button" className="btn" disabled={busy} data-testid="schema-resume" onClick={() => action.mutate({ id: schemaId, action: 'resume' })}>
          Resume
        </button>
      ) : (
        <>
          <button type="button" className="btn" disabled={busy} data-testid="schema-pause" onClick={() => action.mutate({ id: schemaId, action: 'pause' })}>
            Pause
          </button>{' '}
          <button type="button" className="btn" disabled={busy} data-testid="schema-drain" title="Pause, then watch until nothing is running" onClick={() => drain.mutate(schemaId)}>
            Drain
          </button>
        </>
      )}
    </div>
  );
}
