/**
 * Test helpers for the Dispatch, History, Statistics, Administration and FAQ screens: a
 * session of a given role (as `GET /v1/me` answers it), a network stand-in that answers per
 * "METHOD /path" and records every request with its query and body, and an EventSource
 * stand-in (jsdom has none). Only the network boundary is replaced.
 */
import type { components } from "../../../api/schema/conversation";

type Me = components["schemas"]["Me"];
type Role = Me["role"];

const FUNCTIONS: Record<Role, string[]> = {
  administrator: ["administration", "conversations", "dispatch", "history", "statistics", "statistics.per_end_user", "faq", "chatbot.handover", "self"],
  manager: ["conversations", "dispatch", "history", "statistics", "statistics.per_end_user", "faq", "chatbot.handover", "self"],
  agent: ["conversations", "faq", "chatbot.handover", "self"],
  analyst: ["statistics", "faq", "self"],
};

export function me(role: Role, extra: string[] = []): Me {
  return {
    user_id: "00000000-0000-0000-0000-00000000000a",
    first_name: "Test",
    last_name: role,
    email: `${role}@demo.example`,
    role,
    language: "en",
    presence: "online",
    tenant_id: "00000000-0000-0000-0000-0000000000t1",
    tenant_name: "Demo Bakery",
    plan: "pro",
    sdk_option: true,
    default_language: "en",
    time_zone: "Europe/Brussels",
    functions: [...FUNCTIONS[role], ...extra],
    expires_at: "2099-01-01T00:00:00Z",
  };
}

export interface Answer {
  status: number;
  body?: unknown;
}

export interface Recorded {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  headers: Headers;
}

/** Answers per "METHOD /path" (a function may look at the request); unknown: 404. */
export function network(answers: Record<string, Answer | ((request: Recorded) => Answer)>) {
  const calls: Recorded[] = [];
  const fetcher = async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = input instanceof Request ? input : new Request(input, init);
    const url = new URL(request.url);
    const text = request.method === "GET" ? "" : await request.clone().text();
    const recorded: Recorded = {
      method: request.method,
      path: url.pathname,
      query: url.searchParams,
      body: text ? JSON.parse(text) : undefined,
      headers: request.headers,
    };
    calls.push(recorded);
    const key = `${request.method} ${url.pathname}`;
    const found = answers[key];
    const answer = typeof found === "function" ? found(recorded) : found ?? { status: 404, body: { error: { code: "not_found", message: key } } };
    return new Response(answer.body === undefined ? null : JSON.stringify(answer.body), {
      status: answer.status,
      headers: { "content-type": "application/json" },
    });
  };
  return { fetcher, calls, last: (key: string) => [...calls].reverse().find((c) => `${c.method} ${c.path}` === key) };
}

/** jsdom has no EventSource: one that never sends anything, and records who opened it. */
export class SilentEventSource {
  static opened: string[] = [];
  onmessage: ((event: MessageEvent) => void) | null = null;
  constructor(public url: string) {
    SilentEventSource.opened.push(url);
  }
  addEventListener() {}
  removeEventListener() {}
  close() {}
}

export function page<T>(items: T[], total = items.length) {
  return { items, total, offset: 0, limit: 50 };
}

export function conversation(overrides: Partial<components["schemas"]["ConversationOut"]> = {}) {
  return {
    conversation_id: "c0000000-0000-0000-0000-000000000001",
    channel_id: "ch000000-0000-0000-0000-000000000001",
    channel_type: "webchat" as const,
    visitor_id: "v0000000-0000-0000-0000-000000000001",
    language: "nl",
    status: "waiting" as const,
    assignee_id: null,
    opened_at: "2026-03-02T09:00:00Z",
    last_message_at: "2026-03-02T09:01:00Z",
    message_count: 1,
    preview: "Waar blijft mijn taart?",
    required_competences: [],
    competences: [],
    topics: [],
    dispatched: false,
    ...overrides,
  };
}
