import { pino } from 'pino';

/** The tests' logger: silent unless KINESQL_TEST_LOG names a level. A module of its own, so unit tests need not load the harness. */
export const testLogger = pino({ level: process.env['KINESQL_TEST_LOG'] ?? 'silent' });
