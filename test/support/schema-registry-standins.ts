/**
 * Schema registries for tests, on free loopback ports: a Confluent Schema Registry speaking its REST API
 * (the lookups kinesql makes), and the AWS Glue Schema Registry's GetSchemaVersion (the AWS JSON 1.1
 * protocol the SDK's GlueClient speaks). Both can be told to hang or stop answering.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { deflateSync } from 'node:zlib';
import type { SchemaRegistryConfig } from '../../src/config/config.js';
import { ProtobufWriter } from './kpl-aggregate.js';

const varint = (value: number): number[] => [...new ProtobufWriter().varint(value).finish()];

/** up: answers; hang: accepts requests and never answers; failing: answers 500. */
export type StandInMode = 'up' | 'hang' | 'failing';

interface StandInServer {
  url: string;
  /** Every request path (Confluent) or operation and body (Glue), in order. */
  requests: string[];
  mode: StandInMode;
  /** Stops listening (connections are refused) until start() again on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

async function serve(
  describe: (request: IncomingMessage, body: string) => string,
  handle: (request: IncomingMessage, body: string, response: ServerResponse) => void,
): Promise<StandInServer> {
  const sockets = new Set<Socket>();
  let port = 0;
  let server: Server | undefined;
  const standIn: StandInServer = {
    url: '',
    requests: [],
    mode: 'up',
    async start() {
      server = createServer((request, response) => {
        let body = '';
        request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
        request.on('end', () => {
          standIn.requests.push(describe(request, body));
          if (standIn.mode === 'hang') return;
          if (standIn.mode === 'failing') {
            response.writeHead(500, { 'content-type': 'application/json' }).end('{"message":"stand-in is failing"}');
            return;
          }
          handle(request, body, response);
        });
      });
      server.on('connection', (socket) => {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
      });
      await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
      standIn.url = `http://127.0.0.1:${port}`;
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      server = undefined;
    },
    close: () => standIn.stop(),
  };
  await standIn.start();
  return standIn;
}

function json(response: ServerResponse, status: number, body: unknown, contentType = 'application/vnd.schemaregistry.v1+json'): void {
  response.writeHead(status, { 'content-type': contentType }).end(JSON.stringify(body));
}

export interface ConfluentReference {
  name: string;
  subject: string;
  version: number;
}

export interface ConfluentStandIn extends StandInServer {
  /** Registers a schema as the next version of a subject; returns its id. */
  register(subject: string, schema: string, options?: { schemaType?: 'AVRO' | 'PROTOBUF' | 'JSON'; references?: ConfluentReference[] }): number;
}

export async function startConfluentStandIn(): Promise<ConfluentStandIn> {
  const schemas: { id: number; schema: string; schemaType: string; references: ConfluentReference[] }[] = [];
  const subjects = new Map<string, number[]>();
  const answer = (entry: (typeof schemas)[number], extra: Record<string, unknown> = {}) => ({
    ...extra,
    id: entry.id,
    schema: entry.schema,
    ...(entry.schemaType === 'AVRO' ? {} : { schemaType: entry.schemaType }),
    ...(entry.references.length === 0 ? {} : { references: entry.references }),
  });
  const server = await serve(
    (request) => decodeURI(request.url ?? ''),
    (request, _body, response) => {
      const path = decodeURI(request.url ?? '');
      const byId = /^\/schemas\/ids\/(\d+)$/.exec(path);
      if (byId) {
        const entry = schemas.find((schema) => schema.id === Number(byId[1]));
        if (!entry) return json(response, 404, { error_code: 40403, message: `Schema ${byId[1]} not found` });
        return json(response, 200, answer(entry));
      }
      const byVersion = /^\/subjects\/([^/]+)\/versions\/(latest|\d+)$/.exec(path);
      if (byVersion) {
        const subject = decodeURIComponent(byVersion[1]!);
        const ids = subjects.get(subject);
        if (!ids) return json(response, 404, { error_code: 40401, message: `Subject '${subject}' not found.` });
        const version = byVersion[2] === 'latest' ? ids.length : Number(byVersion[2]);
        const id = ids[version - 1];
        const entry = schemas.find((schema) => schema.id === id);
        if (!entry) return json(response, 404, { error_code: 40402, message: `Version ${byVersion[2]} not found.` });
        return json(response, 200, answer(entry, { subject, version }));
      }
      return json(response, 404, { error_code: 404, message: 'HTTP 404 Not Found' });
    },
  );
  return Object.assign(server, {
    register(subject: string, schema: string, options: { schemaType?: 'AVRO' | 'PROTOBUF' | 'JSON'; references?: ConfluentReference[] } = {}) {
      const id = schemas.length + 1;
      schemas.push({ id, schema, schemaType: options.schemaType ?? 'AVRO', references: options.references ?? [] });
      subjects.set(subject, [...(subjects.get(subject) ?? []), id]);
      return id;
    },
  });
}

export interface GlueStandIn extends StandInServer {
  /** Registers the next version of a schema; returns its schema version id (a UUID). */
  register(registryName: string, schemaName: string, definition: string, dataFormat: 'AVRO' | 'PROTOBUF' | 'JSON'): string;
}

export async function startGlueStandIn(): Promise<GlueStandIn> {
  const versions: { id: string; registryName: string; schemaName: string; number: number; definition: string; dataFormat: string }[] = [];
  const fail = (response: ServerResponse, type: string, message: string) =>
    json(response, 400, { __type: type, Message: message }, 'application/x-amz-json-1.1');
  const server = await serve(
    (request, body) => `${String(request.headers['x-amz-target'] ?? '')} ${body}`,
    (request, body, response) => {
      const target = String(request.headers['x-amz-target'] ?? '');
      if (target !== 'AWSGlue.GetSchemaVersion') return fail(response, 'InvalidInputException', `the stand-in does not know ${target}`);
      const input = JSON.parse(body) as {
        SchemaVersionId?: string;
        SchemaId?: { RegistryName?: string; SchemaName?: string };
        SchemaVersionNumber?: { LatestVersion?: boolean; VersionNumber?: number };
      };
      let found: (typeof versions)[number] | undefined;
      if (input.SchemaVersionId !== undefined) found = versions.find((version) => version.id === input.SchemaVersionId);
      else {
        const candidates = versions.filter(
          (version) => version.registryName === (input.SchemaId?.RegistryName ?? 'default-registry') && version.schemaName === input.SchemaId?.SchemaName,
        );
        found = input.SchemaVersionNumber?.LatestVersion
          ? candidates.at(-1)
          : candidates.find((version) => version.number === input.SchemaVersionNumber?.VersionNumber);
      }
      if (!found) return fail(response, 'EntityNotFoundException', 'Schema version is not found.');
      return json(
        response,
        200,
        {
          SchemaVersionId: found.id,
          SchemaDefinition: found.definition,
          DataFormat: found.dataFormat,
          SchemaArn: `arn:aws:glue:us-east-1:123456789012:schema/${found.registryName}/${found.schemaName}`,
          VersionNumber: found.number,
          Status: 'AVAILABLE',
          CreatedTime: new Date().toISOString(),
        },
        'application/x-amz-json-1.1',
      );
    },
  );
  return Object.assign(server, {
    register(registryName: string, schemaName: string, definition: string, dataFormat: 'AVRO' | 'PROTOBUF' | 'JSON') {
      const number = versions.filter((version) => version.registryName === registryName && version.schemaName === schemaName).length + 1;
      const id = randomUUID();
      versions.push({ id, registryName, schemaName, number, definition, dataFormat });
      return id;
    },
  });
}

/** Both stand-ins, and the registry settings that point kinesql at them. */
export async function startRegistryStandIns(): Promise<{
  confluent: ConfluentStandIn;
  glue: GlueStandIn;
  settings(limits: { timeoutMs: number; retryIntervalMs: number }): SchemaRegistryConfig;
  close(): Promise<void>;
}> {
  const confluent = await startConfluentStandIn();
  const glue = await startGlueStandIn();
  return {
    confluent,
    glue,
    settings: (limits) => ({ url: confluent.url, glue: true, glueEndpoint: glue.url, ...limits }),
    async close() {
      await confluent.close();
      await glue.close();
    },
  };
}

/** Confluent's framing: magic 0, the schema id, for protobuf the message indexes (zig-zag varints), the datum. */
export function confluentFramed(id: number, datum: Uint8Array, messageIndexes?: number[]): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(id, 1);
  const indexes = messageIndexes === undefined ? [] : messageIndexes.length === 1 && messageIndexes[0] === 0 ? [0] : [messageIndexes.length, ...messageIndexes];
  const varints = indexes.flatMap((value) => varint(value * 2));
  return Buffer.concat([header, Buffer.from(varints), Buffer.from(datum)]);
}

/** Glue's framing: version 3, compression (5 = zlib), the schema version id, for protobuf a message index, the datum. */
export function glueFramed(versionId: string, datum: Uint8Array, options: { zlib?: boolean; messageIndex?: number } = {}): Buffer {
  const body = Buffer.concat([Buffer.from(options.messageIndex === undefined ? [] : varint(options.messageIndex)), Buffer.from(datum)]);
  return Buffer.concat([Buffer.from([3, options.zlib ? 5 : 0]), Buffer.from(versionId.replaceAll('-', ''), 'hex'), options.zlib ? deflateSync(body) : body]);
}
