/**
 * The parts of FHIR R4 (4.0.1) the hub emits, typed only as far as the mappers need.
 * The validator (fhir/validate.ts) checks every emitted resource against the full
 * StructureDefinitions, so these types need not repeat the specification.
 */
export interface Coding {
  readonly system: string;
  readonly code: string;
  readonly display?: string;
}
export interface CodeableConcept {
  readonly coding?: readonly Coding[];
  readonly text?: string;
}
export interface Identifier {
  readonly system: string;
  readonly value: string;
}
/** A logical reference (FHIR R4 §2.3.0.1, Reference.identifier) or a literal one within this server. */
export interface Reference {
  readonly reference?: string;
  readonly type?: string;
  readonly identifier?: Identifier;
  readonly display?: string;
}
export interface Period {
  readonly start?: string;
  readonly end?: string;
}
export interface Meta {
  readonly lastUpdated?: string;
  readonly profile?: readonly string[];
  readonly tag?: readonly Coding[];
}

export interface Resource {
  readonly resourceType: string;
  readonly id?: string;
  readonly meta?: Meta;
  readonly [element: string]: unknown;
}

export interface BundleEntry {
  readonly fullUrl?: string;
  readonly resource: Resource;
  readonly search?: { readonly mode: 'match' | 'include' | 'outcome' };
  readonly request?: { readonly method: 'POST' | 'PUT'; readonly url: string; readonly ifNoneExist?: string };
}

export interface Bundle extends Resource {
  readonly resourceType: 'Bundle';
  readonly type: 'searchset' | 'transaction';
  readonly link?: readonly { readonly relation: string; readonly url: string }[];
  readonly entry: readonly BundleEntry[];
}
