/**
 * The one polling helper of the writer's tests. `check` may be a predicate or an assertion: polling
 * goes on while it returns `false` or throws, and ends with its value as soon as it does neither.
 * After `timeoutMs` (generous: the machine running the tests may be busy) it fails with the last
 * assertion's error, or with "condition not met" for a predicate that kept returning false.
 */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 10_000): Promise<Exclude<T, false>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let failure: unknown;
    try {
      const value = await check();
      if (value !== false) return value as Exclude<T, false>;
      failure = new Error(`condition not met within ${timeoutMs} ms`);
    } catch (error) {
      failure = error;
    }
    if (Date.now() > deadline) throw failure;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
