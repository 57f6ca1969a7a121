/**
 * A FHIR R4 resource rendered for a clinician: its type and summary as a heading, the key fields
 * first, FHIR's common datatypes (Coding, CodeableConcept, Quantity, Reference, Period, ...)
 * written out in words, anything else as nested label/value lists. No schema is needed: datatypes
 * are recognised by shape, so any resource renders. The narrative (`text.div`, XHTML) is never
 * injected as HTML: it is not rendered at all (the raw JSON has it).
 */
import type { ComponentChildren } from 'preact';
import {
  datatypeText,
  type FhirJson,
  type FhirObject,
  fieldLabel,
  isObject,
  orderedFields,
  resourceSummary,
  str,
} from './fhir-text.js';

/** Bounds for a hostile or huge document: the raw JSON still has everything. */
const MAX_DEPTH = 8;
const MAX_ITEMS = 100;

function Value({ value, depth }: { value: FhirJson; depth: number }): ComponentChildren {
  if (value === null) return '—';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value === 'number' || typeof value === 'string') return String(value);
  if (depth >= MAX_DEPTH) return '(nested too deep: see the raw JSON)';
  if (Array.isArray(value)) {
    if (value.length === 1) return <Value value={value[0]!} depth={depth + 1} />;
    const shown = value.slice(0, MAX_ITEMS);
    return (
      <ul class="fhir-list">
        {shown.map((item, index) => (
          <li key={index}>
            <Value value={item} depth={depth + 1} />
          </li>
        ))}
        {value.length > shown.length && <li>… and {value.length - shown.length} more</li>}
      </ul>
    );
  }
  if (typeof value.resourceType === 'string') return <Resource resource={value} depth={depth} />;
  const text = datatypeText(value);
  if (text !== undefined) return text;
  return <Fields resource={value} depth={depth + 1} />;
}

function Fields({ resource, depth }: { resource: FhirObject; depth: number }) {
  const fields = orderedFields(resource);
  if (fields.length === 0) return <span>(empty)</span>;
  return (
    <dl class="fhir-fields">
      {fields.map(([key, value]) => (
        <div class="fhir-field" key={key}>
          <dt>{fieldLabel(key)}</dt>
          <dd>
            <Value value={value} depth={depth} />
          </dd>
        </div>
      ))}
    </dl>
  );
}

function Heading({ depth, children }: { depth: number; children: ComponentChildren }) {
  // The record sits under the screen's h2 and the result's h3; nested resources go one deeper.
  return depth === 0 ? <h4>{children}</h4> : <h5>{children}</h5>;
}

function Resource({ resource, depth }: { resource: FhirObject; depth: number }) {
  const type = str(resource.resourceType) ?? 'Resource';
  const summary = resourceSummary(resource);
  const entries =
    type === 'Bundle' && Array.isArray(resource.entry) ? resource.entry.filter(isObject) : [];
  const { entry: _, ...bundleFields } = resource;
  return (
    <article class="fhir-resource">
      <Heading depth={depth}>
        <span class="fhir-type">{type}</span>
        {summary !== undefined && <span class="fhir-summary">{summary}</span>}
      </Heading>
      {type === 'Bundle' ? (
        <>
          <Fields resource={bundleFields} depth={depth + 1} />
          {entries
            .slice(0, MAX_ITEMS)
            .map((entry, index) =>
              isObject(entry.resource) ? (
                <Resource key={index} resource={entry.resource} depth={depth + 1} />
              ) : null,
            )}
          {entries.length > MAX_ITEMS && (
            <p>… and {entries.length - MAX_ITEMS} more entries (see the raw JSON)</p>
          )}
        </>
      ) : (
        <Fields resource={resource} depth={depth + 1} />
      )}
    </article>
  );
}

/** A record's FHIR content, readable, with its raw JSON one click away. */
export function FhirView({ content }: { content: string }) {
  let parsed: FhirJson | undefined;
  try {
    parsed = JSON.parse(content) as FhirJson;
  } catch {
    parsed = undefined;
  }
  return (
    <div class="fhir-view">
      {parsed === undefined ? (
        <p role="alert">The record is not valid JSON, so it cannot be shown as FHIR.</p>
      ) : isObject(parsed) ? (
        <Resource resource={parsed} depth={0} />
      ) : (
        <p>The record is JSON but not a FHIR resource (it has no resourceType).</p>
      )}
      <details class="fhir-raw">
        <summary>Raw FHIR JSON</summary>
        {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must take focus to scroll by keyboard (WCAG 2.1.1, axe scrollable-region-focusable) */}
        <pre tabIndex={0}>{parsed === undefined ? content : JSON.stringify(parsed, null, 2)}</pre>
      </details>
    </div>
  );
}
