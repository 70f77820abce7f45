/** My queue and the shared queue, each a virtualised list (thousands stay smooth). */
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { NavLink } from "react-router";
import { useTranslation } from "react-i18next";
import { useVirtualizer } from "@tanstack/react-virtual";
import { Failed, Loading, useDateTime } from "../../components";
import { useSession } from "../../app/session";
import { useQueue, useSharedQueue, type Conversation } from "./api";

type Tab = "mine" | "shared";

export function QueuePanel({ showShared }: { showShared: boolean }) {
  const { t } = useTranslation("inbox");
  const { data: session } = useSession();
  const queue = useQueue();
  const waiting = useSharedQueue(showShared);
  const [tab, setTab] = useState<Tab>("mine");

  const loaded = useMemo(() => queue.data?.pages.flatMap((page) => page.items) ?? [], [queue.data]);
  const mine = useMemo(() => loaded.filter((c) => c.assignee_id === session?.user_id), [loaded, session]);
  const shared = useMemo(() => {
    if (showShared) return waiting.data?.pages.flatMap((page) => page.items) ?? [];
    return loaded.filter((c) => c.assignee_id == null);
  }, [loaded, showShared, waiting.data]);
  const source = tab === "mine" ? queue : showShared ? waiting : queue;
  const items = tab === "mine" ? mine : shared;
  const { hasNextPage, isFetchingNextPage, fetchNextPage } = source;
  const loadMore = useCallback(() => {
    if (hasNextPage && !isFetchingNextPage) void fetchNextPage();
  }, [hasNextPage, isFetchingNextPage, fetchNextPage]);

  return (
    <section className="queue" aria-label={t(tab)}>
      <div className="queue-tabs" role="tablist">
        {(["mine", "shared"] as const).map((name) => (
          <button
            key={name}
            type="button"
            role="tab"
            id={`queue-tab-${name}`}
            aria-selected={tab === name}
            aria-controls="queue-list"
            className={tab === name ? "tab active" : "tab"}
            onClick={() => setTab(name)}
          >
            {t(name)} <span className="badge">{name === "mine" ? mine.length : shared.length}</span>
          </button>
        ))}
      </div>
      <p className="muted small" aria-live="polite">
        {t("live")}
      </p>
      {source.isPending ? (
        <Loading />
      ) : source.error ? (
        <Failed error={source.error} retry={() => void source.refetch()} />
      ) : items.length === 0 ? (
        <p id="queue-list" role="tabpanel" aria-labelledby={`queue-tab-${tab}`}>
          {t("empty")}
        </p>
      ) : (
        <VirtualList
          items={items}
          label={`queue-tab-${tab}`}
          onEnd={loadMore}
        />
      )}
    </section>
  );
}

function VirtualList({ items, label, onEnd }: { items: Conversation[]; label: string; onEnd: () => void }) {
  const parent = useRef<HTMLDivElement>(null);
  const rows = useVirtualizer({
    count: items.length,
    getScrollElement: () => parent.current,
    estimateSize: () => 68,
    overscan: 8,
  });
  const virtual = rows.getVirtualItems();
  const lastIndex = virtual.length ? virtual[virtual.length - 1].index : -1;
  useEffect(() => {
    if (lastIndex >= items.length - 20) onEnd();
  }, [lastIndex, items.length, onEnd]);
  return (
    <div ref={parent} className="queue-scroll" id="queue-list" role="tabpanel" aria-labelledby={label} tabIndex={0}>
      <ul style={{ height: rows.getTotalSize() }} className="queue-items">
        {virtual.map((row) => (
          <li
            key={items[row.index].conversation_id}
            style={{ transform: `translateY(${row.start}px)`, height: row.size }}
          >
            <QueueItem conversation={items[row.index]} />
          </li>
        ))}
      </ul>
    </div>
  );
}

function QueueItem({ conversation }: { conversation: Conversation }) {
  const { t } = useTranslation("inbox");
  const when = useDateTime({ compact: true });
  const at = conversation.last_message_at ?? conversation.opened_at;
  return (
    <NavLink to={`/inbox/${conversation.conversation_id}`} className="queue-item">
      <span className="queue-line">
        <strong>{conversation.preview || "…"}</strong>
      </span>
      <span className="queue-meta">
        <span className={`status status-${conversation.status}`}>{t(`status.${conversation.status}`)}</span>
        <span>{t(`channel.${conversation.channel_type}`, { defaultValue: conversation.channel_type })}</span>
        <span>{conversation.language.toUpperCase()}</span>
        <time className="queue-when" dateTime={at}>
          {when(at)}
        </time>
      </span>
    </NavLink>
  );
}
