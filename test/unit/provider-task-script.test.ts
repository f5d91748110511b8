import { describe, expect, test } from "vitest";
import { taskScript } from "../../components/provider";

describe("taskScript", () => {
  test.each([
    ["no imports", 'from(bucket: "b")', 'option task = {name: "t", every: 1h}\nfrom(bucket: "b")'],
    [
      "imports stay first, as Flux requires",
      'import "date"\nimport "types"\n\nx = 1',
      'import "date"\nimport "types"\n\noption task = {name: "t", every: 1h}\nx = 1',
    ],
  ])("%s", (_, flux, script) => {
    expect(taskScript({ name: "t", every: "1h", flux })).toBe(script);
  });
});
