/** How the text of each configuration value is read: one parser per kind of value, each saying what it expects. */

export interface Parser<T> {
  expected: string;
  /** undefined when the text is not of the expected form */
  parse(raw: string): T | undefined;
}

const PINO_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

const DURATION_UNITS_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export const integer = (min: number, max: number): Parser<number> => ({
  expected: max === Number.MAX_SAFE_INTEGER ? `an integer of at least ${min}` : `an integer between ${min} and ${max}`,
  parse(raw) {
    if (!/^[+]?\d+$/.test(raw.trim())) return undefined;
    const value = Number(raw.trim());
    return Number.isSafeInteger(value) && value >= min && value <= max ? value : undefined;
  },
});

export const number = (min: number, max: number): Parser<number> => ({
  expected: `a number between ${min} and ${max}, such as ${min + 1}.5`,
  parse(raw) {
    if (!/^\d+(\.\d+)?$/.test(raw.trim())) return undefined;
    const value = Number(raw.trim());
    return value >= min && value <= max ? value : undefined;
  },
});

export const boolean: Parser<boolean> = {
  expected: 'true or false',
  parse(raw) {
    const lower = raw.trim().toLowerCase();
    return lower === 'true' ? true : lower === 'false' ? false : undefined;
  },
};

/** Airlift-style durations as the Trino connector wrote them (`10s`, `5m`, `500ms`, `1.5h`), or plain milliseconds. */
export const duration = (minMs: number): Parser<number> => ({
  expected: `a duration such as 500ms, 10s, 5m or 1h (or plain milliseconds)${minMs > 0 ? ` of at least ${minMs}ms` : ''}`,
  parse(raw) {
    const match = /^(\d+(?:\.\d+)?)\s*([a-z]+)?$/i.exec(raw.trim());
    if (!match) return undefined;
    const unit = match[2]?.toLowerCase() ?? 'ms';
    const factor = DURATION_UNITS_MS[unit];
    if (factor === undefined) return undefined;
    const ms = Math.round(Number(match[1]) * factor);
    return Number.isSafeInteger(ms) && ms >= minMs ? ms : undefined;
  },
});

/** A duration, or -1 (as PostgreSQL's log_min_duration_statement) for "never". */
export const durationOrOff: Parser<number> = {
  expected: 'a duration such as 250ms or 1s, 0 for every statement, or -1 for none',
  parse(raw) {
    return raw.trim() === '-1' ? -1 : duration(0).parse(raw);
  },
};

export const text = (what: string): Parser<string> => ({
  expected: what,
  parse: (raw) => (raw.trim() === '' ? undefined : raw.trim()),
});

export const url: Parser<string> = {
  expected: 'an http:// or https:// URL such as http://127.0.0.1:4567',
  parse(raw) {
    try {
      const parsed = new URL(raw.trim());
      return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? raw.trim() : undefined;
    } catch {
      return undefined;
    }
  },
};

export const tablesLocation: Parser<string> = {
  expected: 'a directory path or an s3://bucket/prefix URI',
  parse(raw) {
    const value = raw.trim();
    if (value === '') return undefined;
    if (/^s3:\/\//i.test(value)) return /^s3:\/\/[^/\s]+(\/.*)?$/i.test(value) ? value : undefined;
    return value;
  },
};

export const s3Location: Parser<string> = {
  expected: 'an s3://bucket/prefix URI',
  parse: (raw) => (/^s3:\/\/[^/\s]+(\/.*)?$/i.test(raw.trim()) ? raw.trim() : undefined),
};

/** The Trino connector's own default schema was called `default`; in kinesql that is the configured default, `public`. */
export const schemaName: Parser<string> = {
  expected: 'a schema name of at most 63 bytes',
  parse(raw) {
    const value = raw.trim().toLowerCase();
    if (value === '' || Buffer.byteLength(value, 'utf8') > 63) return undefined;
    return value === 'default' ? 'public' : value;
  },
};

export const logLevel: Parser<string> = {
  expected: `one of ${PINO_LEVELS.join(', ')}`,
  parse: (raw) => (PINO_LEVELS.includes(raw.trim().toLowerCase()) ? raw.trim().toLowerCase() : undefined),
};

const AUTH_METHODS = ['trust', 'password', 'md5', 'scram-sha-256'] as const;

export const authMethod: Parser<(typeof AUTH_METHODS)[number]> = {
  expected: `one of ${AUTH_METHODS.join(', ')}`,
  parse: (raw) => AUTH_METHODS.find((method) => method === raw.trim().toLowerCase()),
};

export const fraction: Parser<number> = {
  expected: 'a number from 0 to 1, such as 0.2',
  parse(raw) {
    const value = Number(raw.trim());
    return raw.trim() !== '' && Number.isFinite(value) && value >= 0 && value <= 1 ? value : undefined;
  },
};

export const engineUrl: Parser<string> = {
  expected: "a postgresql://user:password@host:port/database URL (or libpq's user:password@/database?host=/socket/dir)",
  parse(raw) {
    try {
      // libpq's form with the host in the query string has an empty authority host, which URL refuses.
      const parsed = new URL(raw.trim().replace(/@\//, '@localhost/'));
      return (parsed.protocol === 'postgresql:' || parsed.protocol === 'postgres:') && parsed.username !== '' ? raw.trim() : undefined;
    } catch {
      return undefined;
    }
  },
};

/** A memory size as PostgreSQL settings take it: 64MB, 1GB, 512kB (or a bare number of kB). */
export const memorySize: Parser<string> = {
  expected: 'a size such as 64MB, 1GB or 512kB',
  parse: (raw) => (/^\d+\s*(kB|MB|GB|TB)?$/.test(raw.trim()) ? raw.trim().replace(/\s+/g, '') : undefined),
};

export const consumerMode: Parser<'polling' | 'efo'> = {
  expected: 'polling or efo',
  parse: (raw) => (['polling', 'efo'] as const).find((mode) => mode === raw.trim().toLowerCase()),
};

export const engineDistribution: Parser<'auto' | 'none' | 'citus'> = {
  expected: 'auto, none or citus',
  parse: (raw) => (['auto', 'none', 'citus'] as const).find((mode) => mode === raw.trim().toLowerCase()),
};

export const closedPartitionStorage: Parser<'heap' | 'columnar'> = {
  expected: 'heap or columnar',
  parse: (raw) => (['heap', 'columnar'] as const).find((storage) => storage === raw.trim().toLowerCase()),
};

/** Kinesis consumer names: 1 to 128 of letters, digits, `_`, `.` and `-`. */
export const consumerName: Parser<string> = {
  expected: 'a consumer name of 1 to 128 letters, digits, _ . or -',
  parse: (raw) => (/^[a-zA-Z0-9_.-]{1,128}$/.test(raw.trim()) ? raw.trim() : undefined),
};
