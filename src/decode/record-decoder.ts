/**
 * What the store runs on each Kinesis record: KPL de-aggregation, then per user record decompression
 * (the definition's codec, then a Glue-compressed datum), then decoding. Never throws: anything that fails
 * becomes an invalid row. Tables whose writer schemas come from a schema registry fetch them per batch
 * first (fetchSchemas), so decoding itself stays synchronous.
 */
import type { MessageDefinition } from '../catalog/definition.js';
import type { SchemaRegistries } from '../registry/schema-registries.js';
import { refKey, type SchemaRef } from '../registry/schema-ref.js';
import { decompress, type DecompressResult } from './compression.js';
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

export interface RecordDecoder {
  (data: Uint8Array, partitionKey: string): DecodedMessage[];
  /**
   * Looks up the registry schemas these records need that are not known yet. A promise to wait for before
   * decoding them, or undefined when there is nothing to wait for (always, for tables without a registry).
   */
  fetchSchemas(records: readonly { data: Uint8Array }[]): Promise<void> | undefined;
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

  const unwrap = (data: Uint8Array): DecompressResult => {
    const payload = decompress(data, message.compressionCodec, options.maxMessageBytes);
    return payload.ok && framed ? inflateGlueDatum(payload.data, options.maxMessageBytes) : payload;
  };

  const decodeOne = (data: Uint8Array, partitionKey: string, subSequenceNumber: number | null): DecodedMessage => {
    const payload = unwrap(data);
    if (!payload.ok) return { partitionKey, subSequenceNumber, message: data, row: invalidRow() };
    let row: DecodedRow;
    const matches = sample.matches;
    try {
      row = decoder.decode(payload.data, matches);
    } catch {
      row = invalidRow(); // decoders do not throw by contract; this keeps one bad record from stopping ingest
    }
    if (matches) sample.counted();
    // A JSON record's registry header is binary (its zero bytes cannot be stored as text): _message keeps the
    // JSON itself, which is what the table can be decoded from again after a definition change.
    return { partitionKey, subSequenceNumber, message: isJson ? jsonDatum(payload.data) : payload.data, row };
  };

  const decodeRecord = (data: Uint8Array, partitionKey: string): DecodedMessage[] => {
    const split = deaggregate(data);
    switch (split.kind) {
      case 'plain':
        return [decodeOne(data, partitionKey, null)];
      case 'corrupt':
        return [{ partitionKey, subSequenceNumber: null, message: data, row: invalidRow() }];
      case 'aggregated':
        return split.records.map((record, index) => decodeOne(record.data, record.partitionKey, index));
    }
  };

  let problem: string | undefined;
  const schemaNeeded = decoder.schemaNeeded?.bind(decoder);
  const fetchSchemas = (records: readonly { data: Uint8Array }[]): Promise<void> | undefined => {
    if (schemaNeeded === undefined) return undefined;
    const refs = new Map<string, SchemaRef>();
    for (const record of records) {
      const split = deaggregate(record.data);
      const datas = split.kind === 'plain' ? [record.data] : split.kind === 'aggregated' ? split.records.map((user) => user.data) : [];
      for (const data of datas) {
        const payload = unwrap(data);
        const ref = payload.ok ? schemaNeeded(payload.data) : undefined;
        if (ref !== undefined) refs.set(refKey(ref), ref);
      }
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
    fetchSchemas,
    registryError: () => problem,
    unmatchedFields: () => sample.verdict?.unmatched,
    judgeMappings: () => sample.judge(),
    adoptMappingVerdict: (verdict: MappingVerdict) => sample.adopt(verdict),
  });
}
