/**
 * What the store runs on each Kinesis record: KPL de-aggregation, then per user record decompression
 * (the definition's codec, then a Glue-compressed datum), then decoding. Never throws: anything that fails
 * becomes an invalid row. A batch is unwrapped (de-aggregated and decompressed) once, by `unwrap`: its
 * payloads tell which registry schemas to fetch first (fetchSchemas), so decoding them (decodeUnwrapped)
 * stays synchronous and does not unwrap them again.
 */
import type { MessageDefinition } from '../catalog/definition.js';
import type { SchemaRegistries } from '../registry/schema-registries.js';
import { refKey, type SchemaRef } from '../registry/schema-ref.js';
import { decompress } from './compression.js';
import type { DecodedRow, MessageDecoder } from './decoder.js';
import { createDecoder } from './index.js';
import { deaggregate } from './kpl.js';
import { type MappingVerdict, MappingSample, type UnmatchedField } from './mapping-sample.js';
import { inflateGlueDatum, jsonDatum } from './registry-framing.js';

export interface DecodedMessage {
  partitionKey: string;
  /** Index of the user record inside a KPL-aggregated record; null when the record was not aggregated. */
  subSequenceNumber: number | null;
  /** The payload after decompression (the raw record when it could not be de-aggregated or decompressed). */
  message: Uint8Array;
  row: DecodedRow;
}

/** One user record of a Kinesis record, de-aggregated and decompressed, not decoded yet. */
export interface UnwrappedMessage {
  partitionKey: string;
  subSequenceNumber: number | null;
  /** The bytes it came as (what _message holds when they could not be unwrapped). */
  raw: Uint8Array;
  /** The payload to decode; undefined when the record could not be de-aggregated or decompressed. */
  payload: Uint8Array | undefined;
}

export interface RecordDecoder {
  /** unwrap and decodeUnwrapped of one record, for a record that needs no registry schema (or has it). */
  (data: Uint8Array, partitionKey: string): DecodedMessage[];
  /** De-aggregates and decompresses one Kinesis record into its user records. */
  unwrap(data: Uint8Array, partitionKey: string): UnwrappedMessage[];
  decodeUnwrapped(message: UnwrappedMessage): DecodedMessage;
  /**
   * Looks up the registry schemas these unwrapped messages need that are not known yet. A promise to wait for
   * before decoding them, or undefined when there is nothing to wait for (always, for tables without a registry).
   */
  fetchSchemas(messages: Iterable<UnwrappedMessage>): Promise<void> | undefined;
  /** Why the latest records that needed a registry schema could not have it (kinesql.streams), if they could not. */
  registryError(): string | undefined;
  /** Fields whose mapping matched nothing in the table's first messages (kinesql.streams); undefined until judged. */
  unmatchedFields(): UnmatchedField[] | undefined;
  /** Judges the mapping sample on the messages decoded so far (at the end of a table's first load). */
  judgeMappings(): void;
  /** Takes the verdict of decoding the table's loaded messages again (a definition change). */
  adoptMappingVerdict(verdict: MappingVerdict): void;
}

export interface RecordDecoderOptions {
  maxMessageBytes: number;
  registries?: SchemaRegistries;
  /** Told once which fields matched nothing in the first messages (see mapping-sample.ts). */
  onMappingVerdict?: (verdict: MappingVerdict) => void;
}

/** Formats whose records may carry a schema registry's framing. */
const FRAMED_FORMATS = new Set(['avro', 'protobuf', 'json']);

/** Throws only as createDecoder does, for a definition it cannot serve. */
export function createRecordDecoder(message: MessageDefinition, options: RecordDecoderOptions): RecordDecoder {
  const decoder: MessageDecoder = createDecoder(message, options.registries);
  const fieldCount = message.fields.length;
  const invalidRow = (): DecodedRow => ({ values: new Array<string | null>(fieldCount).fill(null), valid: false });
  const framed = FRAMED_FORMATS.has(message.dataFormat);
  const isJson = message.dataFormat === 'json';
  const sample = new MappingSample(message.fields, options.onMappingVerdict ?? (() => undefined));

  const decodeUnwrapped = ({ partitionKey, subSequenceNumber, raw, payload }: UnwrappedMessage): DecodedMessage => {
    if (payload === undefined) return { partitionKey, subSequenceNumber, message: raw, row: invalidRow() };
    let row: DecodedRow;
    const matches = sample.matches;
    try {
      row = decoder.decode(payload, matches);
    } catch {
      row = invalidRow(); // decoders do not throw by contract; this keeps one bad record from stopping ingest
    }
    if (matches) sample.counted();
    // A JSON record's registry header is binary (its zero bytes cannot be stored as text): _message keeps the
    // JSON itself, which is what the table can be decoded from again after a definition change.
    return { partitionKey, subSequenceNumber, message: isJson ? jsonDatum(payload) : payload, row };
  };

  const unwrapOne = (raw: Uint8Array, partitionKey: string, subSequenceNumber: number | null): UnwrappedMessage => {
    const payload = decompress(raw, message.compressionCodec, options.maxMessageBytes);
    const datum = payload.ok && framed ? inflateGlueDatum(payload.data, options.maxMessageBytes) : payload;
    return { partitionKey, subSequenceNumber, raw, payload: datum.ok ? datum.data : undefined };
  };

  const unwrap = (data: Uint8Array, partitionKey: string): UnwrappedMessage[] => {
    const split = deaggregate(data);
    switch (split.kind) {
      case 'plain':
        return [unwrapOne(data, partitionKey, null)];
      case 'corrupt':
        return [{ partitionKey, subSequenceNumber: null, raw: data, payload: undefined }];
      case 'aggregated':
        return split.records.map((record, index) => unwrapOne(record.data, record.partitionKey, index));
    }
  };

  const decodeRecord = (data: Uint8Array, partitionKey: string): DecodedMessage[] => unwrap(data, partitionKey).map(decodeUnwrapped);

  let problem: string | undefined;
  const schemaNeeded = decoder.schemaNeeded?.bind(decoder);
  const fetchSchemas = (messages: Iterable<UnwrappedMessage>): Promise<void> | undefined => {
    if (schemaNeeded === undefined) return undefined;
    const refs = new Map<string, SchemaRef>();
    for (const { payload } of messages) {
      const ref = payload === undefined ? undefined : schemaNeeded(payload);
      if (ref !== undefined) refs.set(refKey(ref), ref);
    }
    if (refs.size === 0) return undefined;
    const judge = (): void => {
      problem = undefined;
      for (const ref of refs.values()) {
        problem = decoder.schemaProblem?.(ref);
        if (problem !== undefined) return;
      }
    };
    const pending = options.registries?.fetch(refs.values());
    if (pending === undefined) {
      judge();
      return undefined;
    }
    return pending.then(judge);
  };

  return Object.assign(decodeRecord, {
    unwrap,
    decodeUnwrapped,
    fetchSchemas,
    registryError: () => problem,
    unmatchedFields: () => sample.verdict?.unmatched,
    judgeMappings: () => sample.judge(),
    adoptMappingVerdict: (verdict: MappingVerdict) => sample.adopt(verdict),
  });
}
