/**
 * The markup every form shares: a `.field` with its label, the control, help and error messages
 * (`.has-error` and `aria-invalid` when there are messages), and `FieldGroup`, the same for a
 * `<fieldset>` of several controls. Styles (`styles.css`) and the e2e tests rely on these classes.
 */
import type { ReactNode } from 'react';

/** What a Field hands its control: the id its label points at and whether it is invalid. */
export interface FieldControlProps {
  id: string;
  'aria-invalid': boolean;
}

/** The DOM id of a form field for a value path such as `config.cases[1].port`. */
export const fieldDomId = (path: string) => `f-${path.replace(/[^A-Za-z0-9_-]/g, '-')}`;

/** Error messages under a field (`role="alert"`, so they are announced when they appear). */
export function FieldErrors({ messages, testId }: { messages: readonly string[] | undefined; testId?: string }) {
  return (
    <>
      {(messages ?? []).map((m, i) => (
        <p key={`${i}:${m}`} className="field-error" role="alert" data-testid={testId}>
          {m}
        </p>
      ))}
    </>
  );
}

export function Field({
  id,
  label,
  errors,
  errorTestId,
  help,
  extra,
  check = false,
  children,
}: {
  id: string;
  label: ReactNode;
  /** Messages to show; any makes the field invalid. */
  errors?: readonly string[];
  errorTestId?: string;
  /** One paragraph of help under the control. */
  help?: ReactNode;
  /** More content under the help (an expression hint, a note). */
  extra?: ReactNode;
  /** A checkbox: the control comes before its label. */
  check?: boolean;
  /** Renders the control with the props it must spread. */
  children: (control: FieldControlProps) => ReactNode;
}) {
  const invalid = (errors?.length ?? 0) > 0;
  const control = children({ id, 'aria-invalid': invalid });
  const labelEl = <label htmlFor={id}>{label}</label>;
  const className = ['field', invalid && 'has-error', check && 'field-check'].filter(Boolean).join(' ');
  return (
    <div className={className}>
      {check ? (
        <>
          {control}
          {labelEl}
        </>
      ) : (
        <>
          {labelEl}
          {control}
        </>
      )}
      {help && <p className="help">{help}</p>}
      {extra}
      <FieldErrors messages={errors} testId={errorTestId} />
    </div>
  );
}

/** A group of controls under one legend (objects, lists and maps in generated forms). */
export function FieldGroup({
  legend,
  errors,
  errorTestId,
  help,
  testId,
  children,
}: {
  legend: ReactNode;
  errors?: readonly string[];
  errorTestId?: string;
  help?: ReactNode;
  testId?: string;
  children: ReactNode;
}) {
  const invalid = (errors?.length ?? 0) > 0;
  return (
    <fieldset className={invalid ? 'fieldset has-error' : 'fieldset'} data-testid={testId}>
      <legend>{legend}</legend>
      {help && <p className="help">{help}</p>}
      {children}
      <FieldErrors messages={errors} testId={errorTestId} />
    </fieldset>
  );
}
