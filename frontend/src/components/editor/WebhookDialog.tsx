/** The schema's webhook: URL and secret with copy buttons, secret rotation, and an example request. */
import { useRef, useState } from 'react';
import { useSchemaAction } from '../../api/hooks';
import type { Schema } from '../../api/types';
import { copyText } from '../../lib/format';
import { Dialog } from '../Dialog';
import { ErrorBanner } from '../ErrorList';
import { Field } from '../Field';

export function WebhookDialog({ schema, onClose, onRotated }: { schema: Schema; onClose: () => void; onRotated: (schema: Schema) => void }) {
  const [copied, setCopied] = useState<string | null>(null);
  const action = useSchemaAction();
  const timer = useRef<number | undefined>(undefined);
  const copy = async (what: string, text: string) => {
    const ok = await copyText(text);
    setCopied(ok ? what : `${what}-failed`);
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => setCopied(null), 2000);
  };
  const curl = `curl -X POST '${schema.webhook_url}' \\\n  -H 'Content-Type: application/json' \\\n  -H 'X-Schema-Secret: ${schema.webhook_secret}' \\\n  -d '{"hello": "world"}'`;
  return (
    <Dialog title="Webhook" onClose={onClose} testId="webhook-dialog" wide>
      {schema.status !== 'active' && (
        <p className="banner banner-warn">The webhook answers only while the schema is active (now: {schema.status}).</p>
      )}
      <Field id="hook-url" label="URL">
        {(control) => (
          <div className="copy-row">
            <input {...control} readOnly className="mono" value={schema.webhook_url} data-testid="webhook-url" />
            <button type="button" className="btn" data-testid="copy-webhook-url" onClick={() => void copy('url', schema.webhook_url)}>
              {copied === 'url' ? 'Copied ✓' : 'Copy'}
            </button>
          </div>
        )}
      </Field>
      <Field
        id="hook-secret"
        label="Secret (send as X-Schema-Secret, or sign with HMAC)"
        extra={copied?.endsWith('-failed') && <p className="field-error">Copy failed — select the text and copy it by hand.</p>}
      >
        {(control) => (
          <div className="copy-row">
            <input {...control} readOnly className="mono" value={schema.webhook_secret} data-testid="webhook-secret" />
            <button type="button" className="btn" data-testid="copy-webhook-secret" onClick={() => void copy('secret', schema.webhook_secret)}>
              {copied === 'secret' ? 'Copied ✓' : 'Copy'}
            </button>
            <button
              type="button"
              className="btn"
              disabled={action.isPending}
              onClick={async () => {
                if (!window.confirm('Rotate the secret? Callers using the old one will be refused.')) return;
                onRotated(await action.mutateAsync({ id: schema.id, action: 'rotate-secret' }));
              }}
            >
              Rotate
            </button>
          </div>
        )}
      </Field>
      <Field id="hook-curl" label="Example">
        {(control) => <textarea {...control} readOnly className="mono" rows={4} value={curl} />}
      </Field>
      <ErrorBanner error={action.error} />
    </Dialog>
  );
}
