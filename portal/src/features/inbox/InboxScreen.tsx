/**
 * The Inbox: my queue and the shared queue on the left, live; the chosen conversation on the
 * right (`/inbox/<id>`). Live events (server-sent, with the session cookie) refresh what they
 * touch, so nothing needs a reload.
 */
import { useRef } from "react";
import { Route, Routes, useMatch } from "react-router";
import { useTranslation } from "react-i18next";
import { useQueryClient } from "@tanstack/react-query";
import { useLiveEvents } from "../../api/events";
import { may, useSession } from "../../app/session";
import { keys } from "./api";
import { ConversationView } from "./ConversationView";
import { QueuePanel } from "./QueuePanel";
import "./inbox.css";

/** Refreshes at most every `ms`, however many events arrive (a busy tenant sends many). */
function useThrottled(run: () => void, ms: number) {
  const timer = useRef<number | null>(null);
  return () => {
    if (timer.current !== null) return;
    timer.current = window.setTimeout(() => {
      timer.current = null;
      run();
    }, ms);
  };
}

export default function InboxScreen() {
  const { t } = useTranslation("inbox");
  const client = useQueryClient();
  const { data: session } = useSession();
  const refreshQueues = useThrottled(() => {
    void client.invalidateQueries({ queryKey: keys.queue });
    void client.invalidateQueries({ queryKey: keys.shared });
  }, 250);
  useLiveEvents((event) => {
    refreshQueues();
    const id = event.payload.conversation_id;
    if (typeof id === "string") void client.invalidateQueries({ queryKey: keys.conversation(id) });
  });
  // On a phone the queue and the conversation take turns: the open one fills the screen.
  const chosen = useMatch("/inbox/:conversationId") !== null;
  return (
    <div className={chosen ? "inbox chosen" : "inbox"}>
      <h1 className="visually-hidden">{t("title")}</h1>
      <QueuePanel showShared={may(session, "dispatch")} />
      <section className="inbox-detail" aria-label={t("messages")}>
        <Routes>
          <Route index element={<p className="muted">{t("choose")}</p>} />
          <Route path=":conversationId" element={<ConversationView />} />
        </Routes>
      </section>
    </div>
  );
}
