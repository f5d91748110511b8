// Checks that a provider's results survive the trip through the dynamic-provider plugin, which
// sends them as protobuf Structs: only null, booleans, numbers, strings, arrays and plain objects,
// and no `undefined` anywhere (protobuf's `Struct.fromJavaScript` throws "Unexpected struct type").
import type * as pulumi from "@pulumi/pulumi";

function assertWireSafe(value: unknown, path: string): void {
  if (value === null || typeof value === "boolean" || typeof value === "number" || typeof value === "string") return;
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) assertWireSafe(item, `${path}[${i}]`);
    return;
  }
  if (typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    for (const [key, item] of Object.entries(value)) assertWireSafe(item, `${path}.${key}`);
    return;
  }
  throw new Error(`${path} cannot be sent to the engine: ${value === undefined ? "undefined" : typeof value}`);
}

function checked<R extends object>(method: string, result: R): R {
  for (const key of ["outs", "props", "inputs"] as const) {
    if (key in result && (result as Record<string, unknown>)[key] !== undefined)
      assertWireSafe((result as Record<string, unknown>)[key], `${method}().${key}`);
  }
  return result;
}

/** The provider, with every create/read/update result checked as the plugin would send it. */
export function asPlugin<I, O>(provider: pulumi.dynamic.ResourceProvider<I, O>): pulumi.dynamic.ResourceProvider<I, O> {
  return {
    ...provider,
    create: async (inputs) => checked("create", await provider.create(inputs)),
    read: provider.read && (async (id, props) => checked("read", await provider.read!(id, props))),
    update: provider.update && (async (id, olds, news) => checked("update", await provider.update!(id, olds, news))),
  };
}
