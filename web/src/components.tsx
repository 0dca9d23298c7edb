/** Small shared pieces: an error in words, a status line, a scrollable table region, a labelled field. */
import type { ComponentChildren } from 'preact';
import { useId } from 'preact/hooks';

export function ErrorNote({ message }: { message: string | null }) {
  if (!message) return null;
  return <p class="error" role="alert">{message}</p>;
}

export function StatusNote({ message }: { message: string | null }) {
  return <p class="status" role="status" aria-live="polite">{message ?? ''}</p>;
}

/** A table that scrolls sideways on a narrow screen; focusable so a keyboard can scroll it. */
export function TableRegion({ label, children }: { label: string; children: ComponentChildren }) {
  return <div class="table-region" role="region" aria-label={label} tabIndex={0}>{children}</div>;
}

export function Field({ label, children, hint }: { label: string; hint?: string; children: (id: string, hintId?: string) => ComponentChildren }) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : undefined;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {children(id, hintId)}
      {hint ? <small id={hintId}>{hint}</small> : null}
    </div>
  );
}

export function Section({ title, children, id }: { title: string; id?: string; children: ComponentChildren }) {
  const headingId = useId();
  return (
    <section aria-labelledby={headingId} id={id} class="card">
      <h2 id={headingId}>{title}</h2>
      {children}
    </section>
  );
}
