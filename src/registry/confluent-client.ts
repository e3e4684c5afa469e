/**
 * Lookups in a Confluent Schema Registry over its REST API: a schema by id (`GET /schemas/ids/{id}`), a
 * subject's version (`GET /subjects/{subject}/versions/{version|latest}`), and the schemas a schema refers to
 * (its `references`, each a subject version), so protobuf imports and Avro named types can be resolved.
 */
import type { RegistrySchema, SchemaFormat, SchemaRef } from './schema-ref.js';

export interface ConfluentRegistryOptions {
  /** Base URL, e.g. http://registry:8081 (a path prefix is kept). */
  url: string;
  /** `user:password` for HTTP basic authentication. */
  userInfo?: string;
}

interface SchemaAnswer {
  schema?: unknown;
  schemaType?: unknown;
  references?: unknown;
}

interface Reference {
  name: string;
  subject: string;
  version: number;
}

/** A reference chain deeper than this is taken for a loop. */
const MAX_REFERENCE_DEPTH = 16;

function formatOf(schemaType: unknown): SchemaFormat {
  if (schemaType === undefined || schemaType === null || schemaType === 'AVRO') return 'avro';
  if (schemaType === 'PROTOBUF') return 'protobuf';
  if (schemaType === 'JSON') return 'json';
  throw new Error(`unknown schemaType ${JSON.stringify(schemaType)}`);
}

function referencesOf(answer: SchemaAnswer): Reference[] {
  if (answer.references === undefined || answer.references === null) return [];
  if (!Array.isArray(answer.references)) throw new Error('references is not an array');
  return answer.references.map((reference: Record<string, unknown>) => {
    if (typeof reference?.['name'] !== 'string' || typeof reference['subject'] !== 'string' || typeof reference['version'] !== 'number') {
      throw new Error(`a reference without name, subject and version: ${JSON.stringify(reference)}`);
    }
    return { name: reference['name'], subject: reference['subject'], version: reference['version'] };
  });
}

export class ConfluentRegistryClient {
  private readonly base: string;
  private readonly headers: Record<string, string>;

  constructor(readonly options: ConfluentRegistryOptions) {
    this.base = options.url.replace(/\/+$/, '');
    this.headers = { accept: 'application/vnd.schemaregistry.v1+json, application/json' };
    if (options.userInfo !== undefined) this.headers['authorization'] = `Basic ${Buffer.from(options.userInfo).toString('base64')}`;
  }

  /** The schema a reference names, with everything it refers to. Throws an Error saying what went wrong. */
  async fetch(ref: SchemaRef & { registry: 'confluent' }, signal: AbortSignal): Promise<RegistrySchema> {
    const path = 'id' in ref ? `/schemas/ids/${ref.id}` : `/subjects/${encodeURIComponent(ref.subject)}/versions/${ref.version ?? 'latest'}`;
    const answer = await this.get(path, signal);
    if (typeof answer.schema !== 'string') throw new Error(`${path} answered without a schema`);
    const references = new Map<string, string>();
    await this.resolveReferences(referencesOf(answer), references, signal, 0);
    const description = 'id' in ref ? `schema id ${ref.id}` : `subject ${ref.subject} version ${ref.version ?? 'latest'}`;
    return { format: formatOf(answer.schemaType), text: answer.schema, references, description: `Confluent ${description}` };
  }

  private async resolveReferences(references: Reference[], into: Map<string, string>, signal: AbortSignal, depth: number): Promise<void> {
    if (depth > MAX_REFERENCE_DEPTH) throw new Error(`references nested deeper than ${MAX_REFERENCE_DEPTH}`);
    for (const reference of references) {
      if (into.has(reference.name)) continue;
      const answer = await this.get(`/subjects/${encodeURIComponent(reference.subject)}/versions/${reference.version}`, signal);
      if (typeof answer.schema !== 'string') throw new Error(`reference ${reference.name} answered without a schema`);
      into.set(reference.name, answer.schema);
      await this.resolveReferences(referencesOf(answer), into, signal, depth + 1);
    }
  }

  private async get(path: string, signal: AbortSignal): Promise<SchemaAnswer> {
    const response = await fetch(`${this.base}${path}`, { headers: this.headers, signal });
    const body = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      json = undefined;
    }
    if (!response.ok) {
      const detail = json as { message?: unknown; error_code?: unknown } | undefined;
      const message = typeof detail?.message === 'string' ? detail.message : body.slice(0, 200);
      throw new Error(`GET ${path}: HTTP ${response.status}${message ? `: ${message}` : ''}`);
    }
    if (json === null || typeof json !== 'object') throw new Error(`GET ${path}: the answer is not a JSON object`);
    return json as SchemaAnswer;
  }
}
