/** The strip under the editor's toolbar: the last command's notice or failure, and errors not drawn on a node. */
import type { ApiFieldError } from '../../api/types';
import { ErrorBanner, ErrorList } from '../ErrorList';

export function EditorMessages({ notice, failure, generalErrors }: { notice: string | null; failure: unknown; generalErrors: ApiFieldError[] }) {
  if (!failure && !notice && generalErrors.length === 0) return null;
  return (
    <div className="editor-messages">
      {notice && (
        <div className="banner banner-ok" role="status" data-testid="notice">
          {notice}
        </div>
      )}
      <ErrorBanner error={failure} testId="save-error" />
      {generalErrors.length > 0 && <ErrorList errors={generalErrors} testId="general-errors" />}
    </div>
  );
}
