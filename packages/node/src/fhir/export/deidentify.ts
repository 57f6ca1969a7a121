/**
 * HIPAA Safe Harbor de-identification (45 CFR 164.514(b)(2)) of FHIR R4 JSON, for the research
 * export. One walk over any resource by element names and value shapes, plus a few rules for
 * the resource types that describe people and places. README.md beside this file has the
 * table: each of the 18 identifier kinds, and what happens to each FHIR element that can carry
 * it. The rules are conservative: what might hold an identifier (free text, attachments, URLs)
 * is removed, not inspected.
 */

/** A FHIR JSON object (a resource or one of its elements). */
export type FhirJson = { [element: string]: unknown };

/**
 * Re-identification codes for one patient's resources (164.514(c)): random, not derived from
 * anything about the person, kept by the custodian only for the export's lifetime. The same
 * `Type/id` always gets the same code, so references stay consistent.
 */
export class Pseudonyms {
  private readonly codes = new Map<string, string>();

  constructor(private readonly random: () => string) {}

  of(type: string, id: string): string {
    const key = `${type}/${id}`;
    let code = this.codes.get(key);
    if (code === undefined) {
      code = this.random();
      this.codes.set(key, code);
    }
    return code;
  }
}

export interface DeidentifyOptions {
  readonly pseudonyms: Pseudonyms;
  /** The year the export runs (UTC): ages over 89 are judged against it. */
  readonly year: number;
}

/**
 * ZIP3 areas of 20,000 people or fewer (2000 census, as HHS lists them): their 3-digit code
 * is replaced by 000.
 */
export const RESTRICTED_ZIP3 = new Set([
  '036',
  '059',
  '063',
  '102',
  '203',
  '556',
  '692',
  '790',
  '821',
  '823',
  '830',
  '831',
  '878',
  '879',
  '884',
  '890',
  '893',
]);

/** Elements removed wherever they occur (see the README table for the identifier kind). */
const REMOVED = new Set([
  // (A) names of people; (R) free text may hold any identifier (a `text`, Narrative or a
  // CodeableConcept's, is removed where it occurs, below)
  'note',
  'comment',
  'description',
  'patientInstruction',
  'alias',
  'valueString',
  'valueMarkdown',
  'authorString',
  // (C) an age or onset written as text may say "93": free text
  'ageString',
  'onsetString',
  'abatementString',
  'deceasedString',
  // (D) (E) (F) (N) telephone, fax, e-mail, URLs
  'telecom',
  // (G)-(K), (R): every Identifier
  'identifier',
  // (I) (J) health plan beneficiary, member and authorization numbers
  'subscriberId',
  'preAuthRef',
  // (M) device identifiers and serial numbers
  'udiCarrier',
  'serialNumber',
  'lotNumber',
  'distinctIdentifier',
  // (P) (Q) biometrics, full-face photographs
  'photo',
  // (B) geocodes
  'position',
  // (N) (O) URLs and addresses of systems
  'valueUri',
  'valueUrl',
  'valueCanonical',
  // dates of type instant cannot be cut to a year: removed
  'issued',
  'recorded',
  'timestamp',
  'when',
  // (P) (Q) (A) (R) pictures, documents, names, contact points, identifiers, signatures
  'valueAttachment',
  'valueHumanName',
  'valueContactPoint',
  'valueIdentifier',
  'valueSignature',
  'signature',
]);

/** Removed wherever they occur: REMOVED, any Identifier (G-K, R), any instant ([x]Instant). */
const isRemoved = (name: string) =>
  REMOVED.has(name) || name.endsWith('Identifier') || name.endsWith('Instant');

/** Resources describing places or organizations: their `name` is a place or employer name. */
const NAMED_PLACES = new Set([
  'Organization',
  'Location',
  'HealthcareService',
  'Endpoint',
  'InsurancePlan',
  'OrganizationAffiliation',
  'Group',
]);

/**
 * Elements of one resource type that identify: a coverage's group, plan and rx numbers and
 * their names (an employer's), its dependent number.
 */
const REMOVED_BY_TYPE: Readonly<Record<string, readonly string[]>> = {
  Coverage: ['class', 'dependent'],
};

/** Resource types whose whole content is an identifier or an opaque document. */
const DROPPED_TYPES = new Set(['Binary', 'Endpoint']);

/** Extensions whose value is itself an identifier (geolocation: latitude and longitude). */
const DROPPED_EXTENSIONS = [/\/geolocation$/];

/** FHIR's data-absent-reason "masked": the element existed and was removed for privacy. */
const MASKED: FhirJson = {
  extension: [
    { url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'masked' },
  ],
};

const DATE = /^(\d{4})(-\d{2}(-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/** Patterns of identifiers in any string that is left (belt and braces over the rules above). */
const IDENTIFIER_PATTERNS: ReadonlyArray<readonly [kind: string, pattern: RegExp]> = [
  ['email', /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/],
  ['url', /\b(?:https?|ftp):\/\/|\bwww\./i],
  ['ip', /\b(?:\d{1,3}\.){3}\d{1,3}\b|\b[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){7}\b/i],
  ['ssn', /\b\d{3}-\d{2}-\d{4}\b/],
  [
    'phone',
    /\(\d{3}\)\s*\d{3}[\s.-]\d{4}|\b\d{3}[.-]\d{3}[.-]\d{4}\b|\+\d{1,3}[\s.-]?\d{2,4}[\s.-]\d{3,4}[\s.-]?\d{2,4}/,
  ],
];

/** Elements whose strings are terminology or structure, never personal: not pattern-checked. */
const STRUCTURAL = new Set(['system', 'code', 'version', 'id', 'url', 'profile']);

const isObject = (value: unknown): value is FhirJson =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** An Extension (url and a value or nested extensions) or a resource: its `url` is a definition. */
const definesUrl = (element: FhirJson): boolean =>
  'resourceType' in element ||
  Object.keys(element).some((key) => key === 'extension' || key.startsWith('value'));

function generalizeZip(postalCode: string, country: unknown): string | undefined {
  const us = country === undefined || /^(US|USA|United States)$/i.test(String(country));
  const match = /^(\d{3})\d{2}(-\d{4})?$/.exec(postalCode.trim());
  if (!us || match === null) return undefined;
  return RESTRICTED_ZIP3.has(match[1]!) ? '000' : match[1]!;
}

/** (B): an Address keeps use, type, state, country and the ZIP3 rule's postal code. */
function generalizeAddress(address: unknown): unknown {
  if (!isObject(address)) return undefined;
  const out: FhirJson = {};
  for (const name of ['use', 'type', 'state', 'country'] as const) {
    if (typeof address[name] === 'string') out[name] = address[name];
  }
  if (typeof address.postalCode === 'string') {
    const zip3 = generalizeZip(address.postalCode, address.country);
    if (zip3 !== undefined) out.postalCode = zip3;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

/** UCUM time units an Age may use, per year; another unit counts as years. */
const PER_YEAR: Readonly<Record<string, number>> = {
  a: 1,
  mo: 12,
  wk: 52.1775,
  d: 365.25,
  h: 8766,
  min: 525_960,
};

/** An Age (or a Range's low or high) in years, if it has a value. */
function ageInYears(age: FhirJson): number | undefined {
  if (typeof age.value !== 'number') return undefined;
  return age.value / (PER_YEAR[String(age.code)] ?? 1);
}

/** The single category (C) allows for ages over 89, as a Range's low (no comparator there). */
const NINETY_YEARS = { value: 90, unit: 'years', system: 'http://unitsofmeasure.org', code: 'a' };

/** (C): an Age over 89 becomes the single category ">= 90 years". */
function capAge(age: unknown): unknown {
  if (!isObject(age) || (ageInYears(age) ?? 0) <= 89) return age;
  return { ...NINETY_YEARS, comparator: '>=' };
}

/**
 * (C) for a Range of ages (`ageRange`, `onsetRange`, ...): a high over 89 is dropped (the range
 * opens upwards), and a low over 89 becomes 90 years, so nothing says which age past 89.
 */
function capAgeRange(range: unknown): unknown {
  if (!isObject(range)) return range;
  const over = (bound: unknown) => isObject(bound) && (ageInYears(bound) ?? 0) > 89;
  if (over(range.low)) {
    const { high: _high, ...rest } = range;
    return { ...rest, low: NINETY_YEARS };
  }
  if (over(range.high)) {
    const { high: _high, ...rest } = range;
    return rest;
  }
  return range;
}

/** Choice elements whose Range is a range of ages (FamilyMemberHistory, Condition, ...). */
const AGE_RANGE = /^(age|onset|abatement|deceased)Range$/;

/** A reference to another resource, as the pseudonymized `Type/code`; undefined if unknown. */
function pseudonymizeReference(
  reference: string,
  options: DeidentifyOptions,
  fullUrls: ReadonlyMap<string, string>,
): string | undefined {
  if (reference.startsWith('#')) return reference;
  const resolved = fullUrls.get(reference);
  if (resolved !== undefined) return resolved;
  const match = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(
    reference,
  );
  return match === null ? undefined : `${match[1]}/${options.pseudonyms.of(match[1]!, match[2]!)}`;
}

interface Walk {
  readonly options: DeidentifyOptions;
  /** Bundle entry fullUrls (urn:uuid:...) -> the pseudonymized `Type/code` of their resource. */
  readonly fullUrls: ReadonlyMap<string, string>;
}

function walkValue(name: string, value: unknown, walk: Walk): unknown {
  if (Array.isArray(value)) {
    const items = value
      .map((item) => walkValue(name, item, walk))
      .filter((item) => item !== undefined);
    return items.length === 0 ? undefined : items;
  }
  if (name === 'address') {
    // Endpoint.address is a URL; every other address is an Address.
    return typeof value === 'string' ? undefined : generalizeAddress(value);
  }
  if (name === 'contained' && isObject(value)) return deidentifyResource(value, walk, true);
  if (isObject(value)) {
    if (name.endsWith('Age')) return capAge(value);
    const element = AGE_RANGE.test(name) ? capAgeRange(value) : value;
    return walkElement(element as FhirJson, walk);
  }
  if (typeof value === 'string') {
    if (name === 'reference') return pseudonymizeReference(value, walk.options, walk.fullUrls);
    if (STRUCTURAL.has(name)) return value;
    // (C): every date keeps its year only; an instant cannot, and is removed (REMOVED).
    const date = DATE.exec(value);
    if (date?.[2] !== undefined) return date[1];
    if (IDENTIFIER_PATTERNS.some(([, pattern]) => pattern.test(value))) return undefined;
  }
  return value;
}

/** Removes or generalizes every element of one (non-resource) element object. */
function walkElement(element: FhirJson, walk: Walk): FhirJson | undefined {
  if (
    typeof element.url === 'string' &&
    DROPPED_EXTENSIONS.some((pattern) => pattern.test(element.url as string))
  ) {
    return undefined;
  }
  const isCoding = 'code' in element || 'system' in element;
  const out: FhirJson = {};
  for (const [name, value] of Object.entries(element)) {
    // (R) a CodeableConcept's or a Dosage's `text` is typed by a person and may name one; the
    // codings keep the meaning
    if (isRemoved(name) || name === 'text') continue;
    // (A) a HumanName anywhere (patients, relatives, practitioners, contacts)
    if (name === 'name' && typeof value !== 'string') continue;
    // Reference.display is usually a person's name; Coding.display is terminology
    if (name === 'display' && !isCoding) continue;
    // (N) Attachment.url and .data (a picture or a document), .title, .hash
    if (name === 'data' || name === 'title' || name === 'hash') continue;
    if (name === 'url' && !definesUrl(element)) continue;
    const walked = walkValue(name, value, walk);
    if (walked !== undefined) out[name] = walked;
  }
  // An extension whose value was removed says nothing more.
  if (typeof out.url === 'string' && Object.keys(out).length === 1) return undefined;
  if (Object.keys(out).length > 0) return out;
  // A Reference that named someone only by display or identifier, or a CodeableConcept that
  // was only text: still there, but masked (it may be a required element).
  return isCoding ||
    !(
      'display' in element ||
      'identifier' in element ||
      'reference' in element ||
      'text' in element
    )
    ? undefined
    : MASKED;
}

/** Patient, Practitioner, RelatedPerson, Person: the birth date, and (C) for 90 and older. */
function personRules(resource: FhirJson, year: number): FhirJson {
  const birth = typeof resource.birthDate === 'string' ? DATE.exec(resource.birthDate) : null;
  if (birth === null) return resource;
  const death =
    typeof resource.deceasedDateTime === 'string' ? DATE.exec(resource.deceasedDateTime) : null;
  const age = Number(death?.[1] ?? year) - Number(birth[1]);
  // A year difference of 90 may still be 89 years of age: both count as 90 or older.
  if (age < 90) return resource;
  const { birthDate: _birth, ...rest } = resource;
  return rest;
}

function deidentifyResource(
  resource: FhirJson,
  walk: Walk,
  contained = false,
): FhirJson | undefined {
  const type = resource.resourceType;
  if (typeof type !== 'string' || DROPPED_TYPES.has(type)) return undefined;
  const source = ['Patient', 'Practitioner', 'RelatedPerson', 'Person'].includes(type)
    ? personRules(resource, walk.options.year)
    : resource;
  const out: FhirJson = { resourceType: type };
  for (const [name, value] of Object.entries(source)) {
    if (name === 'resourceType') continue;
    if (name === 'id') {
      // A contained resource's id is local to its container, where `#id` references it.
      if (typeof value === 'string') {
        out.id = contained ? value : walk.options.pseudonyms.of(type, value);
      }
      continue;
    }
    if (name === 'meta') {
      // Keep what says how to read it (profiles, security labels, tags); versionId,
      // lastUpdated and source identify the record in its system.
      if (isObject(value)) {
        const meta: FhirJson = {};
        for (const kept of ['profile', 'security', 'tag'] as const) {
          if (value[kept] !== undefined) {
            meta[kept] = walkValue(kept, value[kept], walk);
          }
        }
        if (Object.keys(meta).length > 0) out.meta = meta;
      }
      continue;
    }
    if (name === 'name' && typeof value === 'string' && NAMED_PLACES.has(type)) continue;
    if (name === 'url' && typeof value === 'string') {
      // A canonical resource's own URL is a definition, not a person's; kept.
      out.url = value;
      continue;
    }
    if (isRemoved(name) || name === 'text') continue;
    if (REMOVED_BY_TYPE[type]?.includes(name)) continue;
    if (name === 'name' && typeof value !== 'string') continue;
    if (name === 'date' && type === 'DocumentReference') continue; // an instant
    const walked = walkValue(name, value, walk);
    if (walked !== undefined) out[name] = walked;
  }
  return out;
}

/**
 * De-identifies one stored record (a resource, or a Bundle of them) into the resources the
 * export writes: a Bundle is flattened into its entries, whose `urn:uuid:` references are
 * rewritten to the entries' pseudonymized `Type/code`. Resources that carry nothing but
 * identifiers (Binary, Endpoint) are left out.
 */
export function deidentifyRecord(record: FhirJson, options: DeidentifyOptions): FhirJson[] {
  const resources: FhirJson[] = [];
  const fullUrls = new Map<string, string>();
  if (record.resourceType === 'Bundle' && Array.isArray(record.entry)) {
    for (const entry of record.entry as unknown[]) {
      if (!isObject(entry) || !isObject(entry.resource)) continue;
      const resource = entry.resource;
      const type = String(resource.resourceType);
      const id = typeof resource.id === 'string' ? resource.id : String(entry.fullUrl ?? '');
      const code = options.pseudonyms.of(type, id);
      const withId = { ...resource, id };
      if (typeof entry.fullUrl === 'string') fullUrls.set(entry.fullUrl, `${type}/${code}`);
      resources.push(withId);
    }
  } else {
    resources.push(record);
  }
  const walk: Walk = { options, fullUrls };
  return resources
    .map((resource) => deidentifyResource(resource, walk))
    .filter((resource): resource is FhirJson => resource !== undefined);
}

/** A Safe Harbor identifier that survived, found by `safeHarborFindings`. */
export interface Finding {
  readonly kind: string;
  readonly path: string;
}

/**
 * Scans de-identified JSON for what Safe Harbor forbids: elements that carry identifiers
 * (names, telecom, identifiers, photos, attachments' data and URLs, geocodes), dates finer than
 * a year, ZIP codes of more than 3 digits, and strings that look like e-mail addresses, URLs,
 * IP addresses, social security or telephone numbers. The export checks every resource with
 * it before writing; an empty list is the only acceptable answer.
 */
export function safeHarborFindings(value: unknown, path = ''): Finding[] {
  const findings: Finding[] = [];
  const visit = (node: unknown, at: string, name: string, parent: FhirJson | undefined) => {
    if (Array.isArray(node)) {
      for (const [i, item] of node.entries()) visit(item, `${at}[${i}]`, name, parent);
      return;
    }
    if (isObject(node)) {
      if (name === 'name' || name === 'telecom' || name === 'photo') {
        findings.push({ kind: name, path: at });
      }
      if (name.endsWith('Age') && (ageInYears(node) ?? 0) > 89 && node.comparator !== '>=') {
        findings.push({ kind: 'age', path: at });
      }
      for (const [key, child] of Object.entries(node)) {
        if (key === 'identifier' || key.endsWith('Identifier')) {
          findings.push({ kind: 'identifier', path: `${at}.${key}` });
        } else if (
          key === 'data' ||
          key === 'position' ||
          key === 'line' ||
          key === 'city' ||
          (key === 'text' && typeof child === 'string')
        ) {
          findings.push({ kind: key, path: `${at}.${key}` });
        } else {
          visit(child, `${at}.${key}`, key, node);
        }
      }
      return;
    }
    if (typeof node !== 'string') return;
    if (DATE.exec(node)?.[2] !== undefined) findings.push({ kind: 'date', path: at });
    if (name === 'postalCode' && !/^\d{3}$/.test(node)) findings.push({ kind: 'zip', path: at });
    const structural =
      STRUCTURAL.has(name) && (name !== 'url' || (parent !== undefined && definesUrl(parent)));
    if (!structural) {
      for (const [kind, pattern] of IDENTIFIER_PATTERNS) {
        if (pattern.test(node)) findings.push({ kind, path: at });
      }
    }
  };
  visit(value, path, '', undefined);
  return findings;
}
