/**
 * GetRecords through the SDK, its successful answer read by readGetRecordsAnswer rather than by the SDK's
 * deserializer. A middleware of the call's own, at the SDK's deserialize step and inside its deserializer,
 * takes the HTTP answer first: a success (2xx) has its body read once and handed back as an empty one, so the
 * SDK's deserializer only adds the metadata; an error answer passes untouched, and the SDK turns it into its
 * exceptions (throttling, expired iterators, 5xx) as for any other call.
 */
import type { Readable } from 'node:stream';
import { GetRecordsCommand, type GetRecordsCommandInput, type KinesisClient } from '@aws-sdk/client-kinesis';
import { type GetRecordsAnswer, MalformedAnswerError, readGetRecordsAnswer } from './get-records-answer.js';

/** What the HTTP handler answers with, as far as this middleware looks at it. */
interface HttpAnswer {
  statusCode?: number;
  body?: unknown;
}

/** The body as the chunks it arrived in (readGetRecordsAnswer puts them together). */
async function bodyChunks(body: unknown): Promise<Uint8Array[]> {
  if (body === undefined || body === null) return [];
  if (typeof body === 'string') return [Buffer.from(body, 'utf8')];
  if (body instanceof Uint8Array) return [body];
  const stream = body as Readable;
  if (typeof stream.on !== 'function') throw new MalformedAnswerError('GetRecords answer has a body of a kind the reader does not know');
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk as Uint8Array);
  return chunks;
}

/** One GetRecords call; errors are the SDK's, as from client.send. */
export async function getRecords(client: KinesisClient, input: GetRecordsCommandInput, options: { abortSignal?: AbortSignal }): Promise<GetRecordsAnswer> {
  const command = new GetRecordsCommand(input);
  let answer: GetRecordsAnswer | undefined;
  command.middlewareStack.add(
    (next) => async (args) => {
      const result = await next(args);
      const response = result.response as HttpAnswer;
      const status = response.statusCode ?? 0;
      if (status >= 200 && status < 300) {
        answer = readGetRecordsAnswer(await bodyChunks(response.body));
        response.body = new Uint8Array(0);
      }
      return result;
    },
    { step: 'deserialize', priority: 'low', name: 'kinesqlGetRecordsAnswer' },
  );
  await client.send(command, options);
  if (answer === undefined) throw new MalformedAnswerError('GetRecords succeeded without an answer the reader saw');
  return answer;
}
