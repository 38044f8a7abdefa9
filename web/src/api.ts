// The one place that talks to the gateway: grpc-web on the page's own origin.

import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { timestampDate } from "@bufbuild/protobuf/wkt";

import { SecretService } from "./gen/sharer/v1/secret_service_pb.js";

/** The largest secret the service accepts, in bytes (64 KiB). */
export const MAX_SECRET_BYTES = 64 * 1024;

/** How long a call may take before the page gives up on it. */
const CALL_TIMEOUT_MS = 15_000;

const client = createClient(
  SecretService,
  createGrpcWebTransport({ baseUrl: location.origin }),
);

export interface CreatedSecret {
  id: string;
  expiresAt: Date | undefined;
}

export async function createSecret(content: Uint8Array, ttlSeconds: number): Promise<CreatedSecret> {
  const response = await client.createSecret(
    { content, ttl: { seconds: BigInt(ttlSeconds), nanos: 0 } },
    { timeoutMs: CALL_TIMEOUT_MS },
  );
  return {
    id: response.id,
    expiresAt: response.expiresAt ? timestampDate(response.expiresAt) : undefined,
  };
}

export async function revealSecret(id: string): Promise<Uint8Array> {
  const response = await client.revealSecret({ id }, { timeoutMs: CALL_TIMEOUT_MS });
  return response.content;
}

/** The status code of a failed call: Unknown for anything that is not a ConnectError. */
export function errorCode(error: unknown): Code {
  return ConnectError.from(error).code;
}

/**
 * A sentence a person can act on, followed by the code and the server's message so that a
 * report to an operator says what happened. Server messages are fixed texts that never hold
 * secret content.
 */
export function describeError(error: unknown): string {
  const connectError = ConnectError.from(error);
  const detail = `(${codeName(connectError.code)}: ${connectError.rawMessage || "no details"})`;
  return `${sentenceFor(connectError.code)} ${detail}`;
}

function sentenceFor(code: Code): string {
  switch (code) {
    case Code.InvalidArgument:
    case Code.OutOfRange:
      return "The server did not accept this request.";
    case Code.NotFound:
      return "This secret does not exist, has expired, or has already been revealed.";
    case Code.ResourceExhausted:
      return "Too many requests right now. Please wait a moment and try again.";
    case Code.Unavailable:
      return "The service is unavailable right now. Please try again in a moment.";
    case Code.DeadlineExceeded:
      return "The server took too long to answer. Please try again.";
    case Code.Canceled:
      return "The request was cancelled. Please try again.";
    case Code.PermissionDenied:
    case Code.Unauthenticated:
      return "The server refused this request.";
    default:
      return "Something went wrong. Please try again; if it keeps happening, tell the operators.";
  }
}

function codeName(code: Code): string {
  const name = Code[code] as string | undefined;
  if (name === undefined) {
    return `code ${code}`;
  }
  // "DeadlineExceeded" -> "deadline_exceeded", as gRPC spells codes.
  return name.replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}
