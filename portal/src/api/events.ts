/**
 * The live event stream (`GET /v1/events`, server-sent events) for any screen.
 *
 * One `EventSource` per page, opened on first use. It sends the session cookie by itself
 * (same origin) and, when it reconnects, `Last-Event-ID`, so the server resumes right after
 * the last event seen. Each listener gets every event's type and payload; screens usually
 * just invalidate their queries.
 */
import { useEffect, useRef } from "react";

export interface LiveEvent {
  type: string;
  payload: Record<string, unknown>;
  id: string;
}
type Listener = (event: LiveEvent) => void;

const listeners = new Set<Listener>();
let source: EventSource | null = null;
const types = new Set<string>();

function dispatch(message: MessageEvent<string>) {
  let payload: Record<string, unknown> = {};
  try {
    const envelope = JSON.parse(message.data) as { type?: string; payload?: Record<string, unknown> };
    payload = envelope.payload ?? {};
  } catch {
    return;
  }
  const event = { type: message.type, payload, id: message.lastEventId };
  listeners.forEach((listener) => listener(event));
}

/** Conversation event types the server sends (`event:` lines of `shared/events.py`'s
 * payloads); each needs its own listener. */
export const EVENT_TYPES = [
  "ConversationOpened",
  "MessageReceived",
  "MessageSent",
  "MessageDeliveryChanged",
  "ConversationQueued",
  "ConversationAssigned",
  "ConversationTaken",
  "ConversationRequirementsChanged",
  "HandoverChanged",
  "ConversationClosed",
  "ConversationArchived",
];

function open(extraTypes: string[]) {
  if (!source) {
    source = new EventSource("/v1/events", { withCredentials: true });
    source.onmessage = dispatch;
  }
  for (const type of [...EVENT_TYPES, ...extraTypes]) {
    if (!types.has(type)) {
      types.add(type);
      source.addEventListener(type, dispatch as EventListener);
    }
  }
}

/** Calls `listener` for every live event while the component is mounted. */
export function useLiveEvents(listener: Listener, extraTypes: string[] = []) {
  const latest = useRef(listener);
  latest.current = listener;
  useEffect(() => {
    const relay: Listener = (event) => latest.current(event);
    listeners.add(relay);
    open(extraTypes);
    return () => {
      listeners.delete(relay);
      if (listeners.size === 0 && source) {
        source.close();
        source = null;
        types.clear();
      }
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
}
