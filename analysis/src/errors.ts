/** A mistake in what the user asked for or configured: reported as one line, exit code 2, no stack. */
export class UserError extends Error {
  override readonly name = "UserError";
}
