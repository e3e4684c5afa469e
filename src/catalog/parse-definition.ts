import * as v from 'valibot';
import { INTERNAL_COLUMNS, type FieldDefinition, type TableDefinition } from './definition.js';
import { definitionFileSchema, type DefinitionFile } from './definition-schema.js';
import { describe, stripByteOrderMark, type Fail } from './definition-values.js';
import { resolveWriterSchema, type SchemaFileReaders } from './resolve-writer-schema.js';

/**
 * A table definition that cannot be used. `message` reads `<source>: <path>: <problem>`; `path` is a JSON
 * path into the definition (`message.fields[2].type`, empty for the whole file) and `problem` says what is
 * wrong and what was expected.
 */
export class DefinitionError extends Error {
  constructor(
    readonly source: string,
    readonly path: string,
    readonly problem: string,
  ) {
    super(path === '' ? `${source}: ${problem}` : `${source}: ${path}: ${problem}`);
    this.name = 'DefinitionError';
  }
}

export interface ParseDefinitionOptions extends SchemaFileReaders {
  /** Schema for definitions without schemaName or with the Trino connector's `default`. */
  defaultSchema: string;
}

const INTERNAL_NAMES = new Set<string>(INTERNAL_COLUMNS.map((column) => column.name));

/**
 * Parses and validates one table definition in the Trino connector's format. `source` names the file or S3
 * object in error messages and in the result; `version` is its mtime or ETag. Throws DefinitionError.
 */
export function parseDefinition(text: string, source: string, version: string, options: ParseDefinitionOptions): TableDefinition {
  const fail: Fail = (path, problem) => {
    throw new DefinitionError(source, path, problem);
  };

  let document: unknown;
  try {
    document = JSON.parse(stripByteOrderMark(text));
  } catch (error) {
    return fail('', `not valid JSON (${(error as Error).message}); expected one JSON object`);
  }
  // The first problem is reported: fixing it may change what the rest of the file means.
  const parsed = v.safeParse(definitionFileSchema, document, {
    abortEarly: true,
    message: (issue) => `expected ${issue.expected}, found ${describe(issue.input)}`,
  });
  if (!parsed.success) {
    const [issue] = parsed.issues;
    return fail(jsonPath(issue), issue.message);
  }
  return tableDefinition(parsed.output, source, version, options, fail);
}

/** The checks that need more than the file's shape, and the table as the rest of kinesql takes it. */
function tableDefinition(file: DefinitionFile, source: string, version: string, options: ParseDefinitionOptions, fail: Fail): TableDefinition {
  const { message } = file;
  checkColumnNames(message.fields, fail);
  const writerSchema = resolveWriterSchema(message, fail, options);
  // Built key by key: JSON.stringify of a definition, without source and version, is the fingerprint a built table is compared by.
  return {
    schemaName: file.schemaName ?? options.defaultSchema,
    tableName: file.tableName,
    streamName: file.streamName,
    message: { dataFormat: message.dataFormat, compressionCodec: message.compressionCodec, fields: message.fields, ...writerSchema },
    ...(file.comment === undefined ? {} : { comment: file.comment }),
    source,
    version,
  };
}

/** `message.fields[2].type` for an issue at that place; empty for the whole file. */
function jsonPath(issue: v.BaseIssue<unknown>): string {
  let path = '';
  for (const item of issue.path ?? []) {
    path += typeof item.key === 'number' ? `[${item.key}]` : `${path === '' ? '' : '.'}${String(item.key)}`;
  }
  return path;
}

function checkColumnNames(fields: readonly FieldDefinition[], fail: Fail): void {
  const firstIndex = new Map<string, number>();
  fields.forEach((field, index) => {
    if (INTERNAL_NAMES.has(field.name)) {
      fail(
        `message.fields[${index}].name`,
        `"${field.name}" is the name of an internal column; expected a name that does not clash with ${[...INTERNAL_NAMES].join(', ')}`,
      );
    }
    const earlier = firstIndex.get(field.name);
    if (earlier !== undefined) {
      fail(
        `message.fields[${index}].name`,
        `duplicate column name "${field.name}" (also message.fields[${earlier}]; names are compared in lower case); expected unique names`,
      );
    }
    firstIndex.set(field.name, index);
  });
}
