import { fromUtf8 } from '@medchain/crypto';
import { RESOURCE_TYPE_PATTERN } from '@medchain/ledger';
import { RecordError } from '../records/errors.js';

function invalid(message: string): RecordError {
  return new RecordError('RECORD_INVALID_FHIR', message);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function resourceTypeOf(value: unknown, where: string): string {
  if (!isObject(value)) throw invalid(`${where} must be a JSON object`);
  const type = value.resourceType;
  if (typeof type !== 'string' || !RESOURCE_TYPE_PATTERN.test(type)) {
    throw invalid(`${where}.resourceType must be a FHIR resource type name`);
  }
  return type;
}

/**
 * The basic structure check the vault applies to what it stores: UTF-8 JSON, one object with a
 * FHIR resourceType; a Bundle's entries (if any) each hold a resource with its own
 * resourceType. This is not profile validation: the custodian's EHR owns the content. Returns
 * the top-level resourceType (what `record.anchor` names).
 */
export function checkFhirResource(content: Uint8Array): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fromUtf8(content));
  } catch (error) {
    throw invalid(`not JSON: ${(error as Error).message}`);
  }
  const type = resourceTypeOf(parsed, 'the resource');
  if (type === 'Bundle') {
    const entries = (parsed as Record<string, unknown>).entry;
    if (entries !== undefined) {
      if (!Array.isArray(entries)) throw invalid('Bundle.entry must be an array');
      entries.forEach((entry, i) => {
        if (!isObject(entry)) throw invalid(`Bundle.entry[${i}] must be an object`);
        if (entry.resource !== undefined)
          resourceTypeOf(entry.resource, `Bundle.entry[${i}].resource`);
      });
    }
  }
  return type;
}
