import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CreateStreamCommand,
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
  SplitShardCommand,
} from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureStream, startKinesisStandIn, type KinesisStandIn } from '../../src/demo/kinesis-standin.js';
import { createKinesisClient } from '../../src/kinesis/client.js';
import { MalformedAnswerError, readGetRecordsAnswer } from '../../src/kinesis/get-records-answer.js';
import { getRecords } from '../../src/kinesis/get-records-call.js';
import { isRetryable } from '../../src/kinesis/retry.js';
import { startKinesisMock, type KinesisMock, waitActive } from '../scan/kinesis-mock.js';

/** Records whose Data covers every byte value, every length modulo 3, empty data, and keys that need escapes or are not ASCII. */
const RECORDS = [
  { Data: Buffer.from('{"id":1,"name":"plain json"}'), PartitionKey: 'pk-1' },
  { Data: Buffer.from(Array.from({ length: 256 }, (_, i) => i)), PartitionKey: 'every byte' },
  { Data: Buffer.from('a'), PartitionKey: 'one byte' },
  { Data: Buffer.from('ab'), PartitionKey: 'two bytes' },
  { Data: Buffer.from('abc'), PartitionKey: 'three bytes' },
  { Data: Buffer.from('ключ ☃ \u{1F600}'), PartitionKey: 'ключ-☃-\u{1F600}' },
  { Data: Buffer.from([0xf3, 0x89, 0x9a, 0xc2, 0, 0, 0xff]), PartitionKey: 'quote " backslash \\ tab \t slash /' },
  { Data: Buffer.alloc(70_000, 0x5a), PartitionKey: 'large' },
];

interface Captured {
  body: Buffer;
  sdk: GetRecordsCommandOutput;
}

/** One GetRecords call through the SDK, the body's bytes kept as the stand-in sent them. */
async function captureGetRecords(client: KinesisClient, iterator: string): Promise<Captured> {
  const command = new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 });
  let body: Buffer | undefined;
  command.middlewareStack.add(
    (next) => async (args) => {
      const result = await next(args);
      const response = result.response as { body: AsyncIterable<Buffer> };
      const chunks: Buffer[] = [];
      for await (const chunk of response.body) chunks.push(Buffer.from(chunk));
      body = Buffer.concat(chunks);
      // The SDK reads its own copy: it may change the one it is handed.
      (result.response as { body: Uint8Array }).body = Uint8Array.from(body);
      return result;
    },
    { step: 'deserialize', priority: 'low', name: 'captureBody' },
  );
  const sdk = await client.send(command);
  return { body: body!, sdk };
}

/** What the reader takes from a record, from the SDK's reading, as the reader took it before. */
function sdkRecords(output: GetRecordsCommandOutput) {
  return (output.Records ?? []).map((record) => ({
    sequenceNumber: record.SequenceNumber!,
    partitionKey: record.PartitionKey ?? '',
    data: Buffer.from(record.Data ?? new Uint8Array(0)),
    arrivalTimestamp: record.ApproximateArrivalTimestamp ?? new Date(0),
  }));
}

function answerRecords(body: Buffer) {
  return readGetRecordsAnswer(body).records.map((record) => ({ ...record, data: Buffer.from(record.data) }));
}

async function shardIterator(client: KinesisClient, stream: string, shardId: string): Promise<string> {
  const answer = await client.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }));
  return answer.ShardIterator!;
}

function expectMalformed(body: string | Buffer, where?: RegExp): void {
  let thrown: unknown;
  try {
    readGetRecordsAnswer(Buffer.from(body));
  } catch (error) {
    thrown = error;
  }
  expect(thrown, `body ${JSON.stringify(String(body).slice(0, 80))}`).toBeInstanceOf(MalformedAnswerError);
  expect((thrown as Error).message).toMatch(/^GetRecords answer is not the JSON Kinesis sends: expected .+ at byte \d+ of \d+/);
  if (where) expect((thrown as Error).message).toMatch(where);
}

describe('GetRecords answers read from their bytes', () => {
  let standIn: KinesisStandIn;
  let client: KinesisClient;
  let shardId: string;
  let captured: Captured;
  // A client of its own for each test that calls the stand-in: a socket kept alive past a long test of reading
  // alone may have been closed by the stand-in meanwhile (the tests' client does not retry).
  const freshClient = (): KinesisClient => {
    client?.destroy();
    client = createKinesisClient({ region: 'us-east-1', kinesisEndpoint: standIn.endpoint, accessKeyId: 'test', secretAccessKey: 'test' });
    return client;
  };

  beforeAll(async () => {
    standIn = await startKinesisStandIn();
    freshClient();
    await ensureStream(client, 'answers', 1);
    await client.send(new PutRecordsCommand({ StreamName: 'answers', Records: RECORDS }));
    shardId = (await client.send(new ListShardsCommand({ StreamName: 'answers' }))).Shards![0]!.ShardId!;
    captured = await captureGetRecords(client, await shardIterator(client, 'answers', shardId));
  }, 60_000);

  afterAll(async () => {
    client?.destroy();
    await standIn?.close();
  });

  it("read kinesalite's bytes into the records, iterator and lag the SDK reads from them, each record's data a view of one buffer", () => {
    const answer = readGetRecordsAnswer(captured.body);
    expect(answerRecords(captured.body)).toEqual(sdkRecords(captured.sdk));
    expect(answer.records.map((record) => Buffer.from(record.data))).toEqual(RECORDS.map((record) => record.Data));
    expect(answer.records.map((record) => record.partitionKey)).toEqual(RECORDS.map((record) => record.PartitionKey));
    expect(new Set(answer.records.map((record) => record.data.buffer)).size).toBe(1);
    expect(answer.nextShardIterator).toBe(captured.sdk.NextShardIterator);
    expect(answer.millisBehindLatest).toBe(captured.sdk.MillisBehindLatest);
  });

  it('read the same from the body in the chunks it arrived in, whatever their sizes, and leave those chunks as they were', () => {
    const whole = answerRecords(captured.body);
    for (const size of [7, 1000, 65_536]) {
      const chunks: Buffer[] = [];
      for (let at = 0; at < captured.body.length; at += size) chunks.push(Buffer.from(captured.body.subarray(at, at + size)));
      expect(readGetRecordsAnswer(chunks).records.map((record) => ({ ...record, data: Buffer.from(record.data) }))).toEqual(whole);
      expect(Buffer.concat(chunks).equals(captured.body)).toBe(true);
    }
  });

  it('take an answer with no records (the tip) and one whose members come in another order, with white space, nulls and members Kinesis may add', async () => {
    const atTip = await captureGetRecords(freshClient(), captured.sdk.NextShardIterator!);
    expect(readGetRecordsAnswer(atTip.body)).toEqual({
      records: [],
      nextShardIterator: atTip.sdk.NextShardIterator,
      millisBehindLatest: atTip.sdk.MillisBehindLatest,
    });
    const reordered = ` {\n "MillisBehindLatest" : 12 , "Extra": {"a": [1, 2.5e3, true, false, null, "x\\"y"]},
      "Records" : [ { "SequenceNumber": "42", "ApproximateArrivalTimestamp": 1700000000.1235, "EncryptionType": "KMS",
        "Data": "aGk=", "PartitionKey": null } ], "NextShardIterator": null, "ChildShards": [] } `;
    expect(readGetRecordsAnswer(Buffer.from(reordered))).toEqual({
      records: [{ sequenceNumber: '42', partitionKey: '', data: Buffer.from('hi'), arrivalTimestamp: new Date(1_700_000_000_124) }],
      nextShardIterator: undefined,
      millisBehindLatest: 12,
    });
  });

  it('fail with a MalformedAnswerError naming the byte for every cut-short copy of a real answer, and for bodies that are not answers', () => {
    const full = captured.body;
    // Every place the body could be cut, near its start and around the records.
    for (let length = 0; length < full.length; length += length < 400 ? 1 : 97) expectMalformed(full.subarray(0, length));
    expectMalformed('<html><body>502 Bad Gateway</body></html>', /expected the answer object at byte 0 of 41, found '<'/);
    expectMalformed('{"Records":[{"SequenceNumber":"1","Data":"aGk"}]}', /base64 text/);
    expectMalformed('{"Records":[{"SequenceNumber":"1","Data":"a*k="}]}', /base64 text/);
    expectMalformed('{"Records":[{"SequenceNumber":"1","Data":"a==="}]}', /base64 text/);
    expectMalformed('{"Records":[{"SequenceNumber":"1","Data":"aGk=aGk="}]}', /base64 text/);
    expectMalformed('{"Records":[{"Data":"aGk="}]}', /a record with a SequenceNumber/);
    expectMalformed('{"Records":[{"SequenceNumber":"1","ApproximateArrivalTimestamp":"soon"}]}', /a number/);
    expectMalformed('{"Records":[{"SequenceNumber":"1","ApproximateArrivalTimestamp":1e999}]}', /a finite epoch timestamp/);
    expectMalformed('{"Records":[{"SequenceNumber":"1\u0001"}]}', /a character a JSON string may hold/);
    expectMalformed('{"Records":[{"SequenceNumber":"\\q"}]}', /valid escapes/);
    expectMalformed('{"Records":[],"NextShardIterator":"x"} trailing', /the end of the answer/);
    expectMalformed('{"Records":[] "NextShardIterator":"x"}', /',' or '}'/);
    expectMalformed(`{"Extra":${'['.repeat(10_000)}${']'.repeat(10_000)}}`, /nested less deeply/);
    expectMalformed('{"Extra":tru}', /true, false or null/);
    expectMalformed('', /found the end of the body/);
  });

  it('never fail otherwise on a real answer with bytes changed: each copy is read or is a MalformedAnswerError', () => {
    const full = captured.body;
    let read = 0;
    for (let at = 0; at < Math.min(full.length, 3_000); at += 13) {
      for (const byte of [0x22, 0x5c, 0x2c, 0x7d, 0x5d, 0x3d, 0x00, 0xff, 0x41]) {
        const changed = Buffer.from(full);
        changed[at] = byte;
        try {
          readGetRecordsAnswer(changed);
          read += 1;
        } catch (error) {
          expect(error).toBeInstanceOf(MalformedAnswerError);
        }
      }
    }
    // A changed byte inside a sequence number or data is still an answer.
    expect(read).toBeGreaterThan(0);
  });

  it("go through the SDK's middleware: the same records as a plain GetRecords, and Kinesis's errors as the SDK's exceptions", async () => {
    const iterator = await shardIterator(freshClient(), 'answers', shardId);
    const answer = await getRecords(client, { ShardIterator: iterator, Limit: 10_000 }, {});
    expect(answer.records.map((record) => ({ ...record, data: Buffer.from(record.data) }))).toEqual(sdkRecords(captured.sdk));
    const limited = await getRecords(client, { ShardIterator: iterator, Limit: 3 }, {});
    expect(limited.records.map((record) => record.partitionKey)).toEqual(RECORDS.slice(0, 3).map((record) => record.PartitionKey));
    const refused = await getRecords(client, { ShardIterator: 'not-an-iterator', Limit: 10 }, {}).catch((error: unknown) => error);
    expect((refused as Error).name).toBe('InvalidArgumentException');
    expect((refused as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode).toBe(400);
  });

  describe('from an endpoint answering with a body that is not an answer', () => {
    let server: Server;
    let endpoint: string;
    let body = '';

    beforeAll(async () => {
      server = createServer((request, response) => {
        request.resume();
        request.on('end', () => {
          response.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
          response.end(body);
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });

    afterAll(async () => {
      await new Promise((resolve) => server.close(resolve));
    });

    it('reject the call with a MalformedAnswerError the reader retries', async () => {
      const proxied = createKinesisClient({ region: 'us-east-1', kinesisEndpoint: endpoint, accessKeyId: 'test', secretAccessKey: 'test' });
      try {
        body = captured.body.subarray(0, 500).toString('latin1');
        const cut = await getRecords(proxied, { ShardIterator: 'x', Limit: 10 }, {}).catch((error: unknown) => error);
        expect(cut).toBeInstanceOf(MalformedAnswerError);
        expect(isRetryable(cut)).toBe(true);
        body = captured.body.toString('latin1');
        const whole = await getRecords(proxied, { ShardIterator: 'x', Limit: 10 }, {});
        expect(whole.records).toHaveLength(RECORDS.length);
      } finally {
        proxied.destroy();
      }
    });
  });
});

describe("GetRecords answers of kinesis-mock's closed parent shard", () => {
  let mock: KinesisMock;
  let client: KinesisClient;

  beforeAll(async () => {
    mock = await startKinesisMock();
    client = createKinesisClient({ region: 'us-east-1', kinesisEndpoint: mock.endpoint, accessKeyId: 'test', secretAccessKey: 'test' });
  }, 120_000);

  afterAll(async () => {
    client?.destroy();
    await mock?.close();
  });

  it('read the records and the end of the shard (ChildShards, no next iterator) as the SDK does', async () => {
    await client.send(new CreateStreamCommand({ StreamName: 'split', ShardCount: 1 }));
    await waitActive(client, 'split');
    await client.send(new PutRecordsCommand({ StreamName: 'split', Records: RECORDS.slice(0, 7) }));
    const parent = (await client.send(new ListShardsCommand({ StreamName: 'split' }))).Shards![0]!;
    const middle = (BigInt(parent.HashKeyRange!.StartingHashKey!) + BigInt(parent.HashKeyRange!.EndingHashKey!)) / 2n;
    await client.send(new SplitShardCommand({ StreamName: 'split', ShardToSplit: parent.ShardId!, NewStartingHashKey: middle.toString() }));
    await waitActive(client, 'split');
    let iterator = await shardIterator(client, 'split', parent.ShardId!);
    const records: ReturnType<typeof sdkRecords> = [];
    let ended = false;
    for (let call = 0; call < 20 && !ended; call++) {
      const { body, sdk } = await captureGetRecords(client, iterator);
      const answer = readGetRecordsAnswer(body);
      expect(answerRecords(body)).toEqual(sdkRecords(sdk));
      expect(answer.nextShardIterator).toBe(sdk.NextShardIterator);
      expect(answer.millisBehindLatest).toBe(sdk.MillisBehindLatest);
      records.push(...answerRecords(body));
      if (sdk.NextShardIterator === undefined) {
        expect(sdk.ChildShards?.length).toBe(2);
        expect(body.toString()).toContain('"ChildShards"');
        ended = true;
      } else iterator = sdk.NextShardIterator;
    }
    expect(ended).toBe(true);
    expect(records.map((record) => record.data)).toEqual(RECORDS.slice(0, 7).map((record) => record.Data));
  }, 60_000);
});
