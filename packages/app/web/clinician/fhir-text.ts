/**
 * FHIR R4 resources in words, for the clinician's rendering (fhir.tsx): FHIR's common datatypes
 * (Coding, CodeableConcept, Quantity, Range, Ratio, Period, Reference, HumanName, Identifier,
 * Attachment, Annotation) recognised by shape and written as one line, field labels, a one-line
 * summary, the order fields are shown in. No schema is needed, so any resource works.
 */

export type FhirJson = null | boolean | number | string | FhirJson[] | FhirObject;
export interface FhirObject {
  [field: string]: FhirJson;
}

/** Fields shown first, in this order, when present; the rest follow in document order. */
const KEY_FIELDS = [
  'status',
  'clinicalStatus',
  'verificationStatus',
  'intent',
  'category',
  'type',
  'code',
  'vaccineCode',
  'medication',
  'subject',
  'patient',
  'effective',
  'onset',
  'occurrence',
  'authoredOn',
  'recordedDate',
  'issued',
  'value',
  'interpretation',
  'referenceRange',
  'component',
  'dosage',
  'dosageInstruction',
  'reaction',
  'note',
];

/** Not shown as fields: the type is the heading, meta is bookkeeping, the narrative is XHTML. */
const HIDDEN_FIELDS = new Set(['resourceType', 'id', 'meta', 'text']);

const CHOICE_TYPES =
  'Quantity|CodeableConcept|Coding|String|Boolean|Integer|Decimal|DateTime|Date|Time|Instant|Period|Range|Ratio|Reference|Age|Duration|SampledData|Attachment|Timing|Identifier';
/** FHIR choice elements (`value[x]`, `effective[x]`, ...): named by their prefix. */
const CHOICE = new RegExp(`^([a-z][A-Za-z]*?)(${CHOICE_TYPES})$`);
const CHOICE_PREFIXES = new Set([
  'value',
  'effective',
  'onset',
  'abatement',
  'occurrence',
  'deceased',
  'multipleBirth',
  'medication',
  'born',
  'performed',
  'timing',
  'asNeeded',
  'dose',
  'rate',
  'serviced',
  'collected',
]);

const SYSTEMS: Record<string, string> = {
  'http://loinc.org': 'LOINC',
  'http://snomed.info/sct': 'SNOMED CT',
  'http://unitsofmeasure.org': 'UCUM',
  'http://www.nlm.nih.gov/research/umls/rxnorm': 'RxNorm',
  'http://hl7.org/fhir/sid/icd-10': 'ICD-10',
  'http://hl7.org/fhir/sid/icd-10-cm': 'ICD-10-CM',
  'http://www.whocc.no/atc': 'ATC',
  'http://hl7.org/fhir/sid/cvx': 'CVX',
};

export const isObject = (value: FhirJson | undefined): value is FhirObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
export const str = (value: FhirJson | undefined): string | undefined =>
  typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;

/** The field name a key shows under: the choice prefix for `value[x]`-style keys. */
function baseName(key: string): string {
  const match = CHOICE.exec(key);
  return match !== null && CHOICE_PREFIXES.has(match[1]!) ? match[1]! : key;
}

/** `effectiveDateTime` -> "Effective", `verificationStatus` -> "Verification status". */
export function fieldLabel(key: string): string {
  const words = baseName(key)
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** A code system's short name: the well-known ones by name, HL7's by their last segment. */
export function systemName(system: string): string {
  const known = SYSTEMS[system];
  if (known !== undefined) return known;
  const hl7 = /^http:\/\/terminology\.hl7\.org\/CodeSystem\/(.+)$/.exec(system);
  return hl7 === null ? system : hl7[1]!;
}

/** "Heart rate (LOINC 8867-4)"; a coding without display shows its code. */
export function codingText(coding: FhirObject): string {
  const display = str(coding.display);
  const code = str(coding.code);
  const system = str(coding.system);
  const origin = [system === undefined ? undefined : systemName(system), code]
    .filter((part) => part !== undefined)
    .join(' ');
  if (display === undefined) return origin === '' ? '(no code)' : origin;
  return origin === '' ? display : `${display} (${origin})`;
}

/** "72 beats/minute", "< 5 mg". */
export function quantityText(quantity: FhirObject): string {
  const comparator = str(quantity.comparator) ?? '';
  const value = str(quantity.value) ?? '?';
  const unit = str(quantity.unit) ?? str(quantity.code);
  return `${comparator}${value}${unit === undefined ? '' : ` ${unit}`}`;
}

/**
 * A FHIR datatype written as one line of text, recognised by its shape; undefined when the
 * object is not one (it is then shown field by field).
 */
export function datatypeText(value: FhirObject): string | undefined {
  const keys = Object.keys(value).filter((key) => key !== 'id' && key !== 'extension');
  const only = (...allowed: string[]) =>
    keys.length > 0 && keys.every((key) => allowed.includes(key));
  if (only('coding', 'text')) {
    const codings = Array.isArray(value.coding) ? value.coding.filter(isObject) : [];
    const text = str(value.text);
    if (codings.length === 0) return text;
    const coded = codings.map(codingText).join('; ');
    return text === undefined ? coded : `${text} (${coded})`;
  }
  if (only('system', 'version', 'code', 'display', 'userSelected')) return codingText(value);
  if (typeof value.value === 'number' && only('value', 'comparator', 'unit', 'system', 'code')) {
    return quantityText(value);
  }
  if (only('low', 'high') && (isObject(value.low) || isObject(value.high))) {
    const end = (part: FhirJson | undefined) => (isObject(part) ? quantityText(part) : '…');
    return `${end(value.low)} – ${end(value.high)}`;
  }
  if (only('numerator', 'denominator') && isObject(value.numerator)) {
    const denominator = isObject(value.denominator) ? quantityText(value.denominator) : '1';
    return `${quantityText(value.numerator)} / ${denominator}`;
  }
  if (only('start', 'end')) return `${str(value.start) ?? '…'} – ${str(value.end) ?? 'ongoing'}`;
  if (only('reference', 'display', 'type', 'identifier') && keys.some((k) => k !== 'type')) {
    return str(value.display) ?? str(value.reference) ?? 'a reference by identifier';
  }
  if (only('use', 'text', 'family', 'given', 'prefix', 'suffix', 'period')) {
    const given = Array.isArray(value.given) ? value.given.map(str) : [];
    const prefix = Array.isArray(value.prefix) ? value.prefix.map(str) : [];
    const parts = [...prefix, ...given, str(value.family)].filter((p) => p !== undefined);
    return str(value.text) ?? parts.join(' ');
  }
  if (only('use', 'type', 'system', 'value', 'period', 'assigner') && 'value' in value) {
    const system = str(value.system);
    return `${str(value.value)}${system === undefined ? '' : ` (${system})`}`;
  }
  if (
    'contentType' in value &&
    only('contentType', 'language', 'data', 'url', 'size', 'hash', 'title', 'creation')
  ) {
    return `attachment: ${str(value.title) ?? str(value.contentType)} (content not shown)`;
  }
  if (only('text', 'authorString', 'authorReference', 'time') && typeof value.text === 'string') {
    return value.text;
  }
  return undefined;
}

/** The one-line summary beside the type: what it is and, for observations, its value. */
export function resourceSummary(resource: FhirObject): string | undefined {
  const concept =
    resource.code ?? resource.vaccineCode ?? resource.medicationCodeableConcept ?? resource.type;
  const what = isObject(concept) ? datatypeText(concept) : undefined;
  const valueKey = Object.keys(resource).find(
    (key) => baseName(key) === 'value' && key !== 'value',
  );
  const valueField = valueKey === undefined ? undefined : resource[valueKey];
  const value = isObject(valueField) ? datatypeText(valueField) : str(valueField ?? undefined);
  if (what === undefined) return value;
  return value === undefined ? what : `${what}: ${value}`;
}

export function orderedFields(resource: FhirObject): [string, FhirJson][] {
  const entries = Object.entries(resource).filter(([key]) => !HIDDEN_FIELDS.has(key));
  const rank = (key: string) => {
    const index = KEY_FIELDS.indexOf(baseName(key));
    return index === -1 ? KEY_FIELDS.length : index;
  };
  // Array.prototype.sort is stable: fields of equal rank keep the document's order.
  return entries.sort(([a], [b]) => rank(a) - rank(b));
}
