import { describe, expect, it } from 'vitest';
import { LoadBudget } from '../../src/store/load-budget.js';

/** Lets every promise callback queued so far run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A budget and the names of the batches it let in, in order. */
function watched(limit: number) {
  const budget = new LoadBudget(limit);
  const admitted: string[] = [];
  const ask = (name: string, bytes: number): void => void budget.acquire(bytes).then(() => admitted.push(name));
  return { budget, admitted, ask };
}

describe('the memory budget of batches on their way into the engine', () => {
  it('lets batches in while they fit and holds the next until bytes are given back', async () => {
    const { budget, admitted, ask } = watched(100);
    ask('a', 60);
    ask('b', 30);
    ask('c', 20);
    await settle();
    expect(admitted).toEqual(['a', 'b']);
    expect(budget.heldBytes).toBe(90);
    budget.release(60);
    await settle();
    expect(admitted).toEqual(['a', 'b', 'c']);
    expect(budget.heldBytes).toBe(50);
  });

  it('lets batches in in the order they came, so a small one does not pass a large one waiting', async () => {
    const { budget, admitted, ask } = watched(100);
    ask('first', 80);
    ask('large', 50);
    ask('small', 10);
    await settle();
    expect(admitted).toEqual(['first']);
    budget.release(80);
    await settle();
    expect(admitted).toEqual(['first', 'large', 'small']);
  });

  it('lets a batch larger than the whole budget in alone, never waiting forever', async () => {
    const { budget, admitted, ask } = watched(100);
    ask('small', 10);
    ask('huge', 500);
    ask('after', 10);
    await settle();
    expect(admitted).toEqual(['small']);
    budget.release(10);
    await settle();
    expect(admitted).toEqual(['small', 'huge']);
    budget.release(500);
    await settle();
    expect(admitted).toEqual(['small', 'huge', 'after']);
    expect(budget.heldBytes).toBe(10);
  });

  it('counts bytes a batch grew by at once, over the limit, and keeps the most held and the records held decoded', async () => {
    const { budget, admitted, ask } = watched(100);
    ask('a', 60);
    await settle();
    budget.grow(50);
    ask('b', 10);
    await settle();
    expect(admitted).toEqual(['a']);
    expect(budget.heldBytes).toBe(110);
    budget.holdDecoded(7);
    budget.release(110);
    budget.dropDecoded(7);
    await settle();
    expect(admitted).toEqual(['a', 'b']);
    expect(budget.heldBytes).toBe(10);
    expect(budget.peakHeldBytes).toBe(110);
    expect(budget.decodedRecords).toBe(0);
    expect(budget.peakDecodedRecords).toBe(7);
  });
});
