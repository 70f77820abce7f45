/**
 * Pieces the Dispatch, History, Statistics, Administration and FAQ screens share: paging,
 * sortable headers, dates in the tenant's time zone, the read-only view of a conversation
 * and the wording of a plan or option refusal. Kept here (not in `src/components/`, which
 * the shell owns) so those screens change together.
 */
import "./ui.css";
import { useQuery } from "@tanstack/react-query";
import type { TFunction } from "i18next";
import { useTranslation } from "react-i18next";
import { ApiError, api, unwrap } from "../../api/client";
import type { components } from "../../api/schema/conversation";
import { Failed, Loading } from "../../components";
import { useSession } from "../../app/session";

export type Conversation = components["schemas"]["ConversationOut"];
export type ConversationDetail = components["schemas"]["ConversationDetail"];

/** A channel type in the reader's language (the Statistics screen keeps those names). */
export function channelName(t: TFunction, type: string): string {
  return t(`channels.${type}`, { ns: "statistics", defaultValue: type });
}

/** A date and time as the tenant's staff read it: in the tenant's time zone. */
export function useDateTime(): (iso: string | null | undefined) => string {
  const { data: session } = useSession();
  const { i18n } = useTranslation();
  const format = new Intl.DateTimeFormat(i18n.language, {
    dateStyle: "short",
    timeStyle: "short",
    timeZone: session?.time_zone || undefined,
  });
  return (iso) => (iso ? format.format(new Date(iso)) : "—");
}

export function Pager({
  offset,
  limit,
  total,
  onChange,
}: {
  offset: number;
  limit: number;
  total: number;
  onChange: (offset: number) => void;
}) {
  const { t } = useTranslation("history");
  const page = Math.floor(offset / limit) + 1;
  const pages = Math.max(1, Math.ceil(total / limit));
  return (
    <nav className="pager" aria-label={t("paging")}>
      <button
        type="button"
        className="secondary"
        disabled={offset === 0}
        onClick={() => onChange(Math.max(0, offset - limit))}
      >
        {t("previous")}
      </button>
      <span aria-live="polite">{t("page", { page, pages, total })}</span>
      <button
        type="button"
        className="secondary"
        disabled={offset + limit >= total}
        onClick={() => onChange(offset + limit)}
      >
        {t("next")}
      </button>
    </nav>
  );
}

/** A column header that sorts: `sort` is the API's value (`name` or `-name`). */
export function SortHeader({
  label,
  field,
  sort,
  onSort,
  className,
}: {
  label: string;
  field: string;
  sort: string;
  onSort: (sort: string) => void;
  className?: string;
}) {
  const { t } = useTranslation("history");
  const active = sort.replace(/^-/, "") === field;
  const descending = active && sort.startsWith("-");
  return (
    <th
      scope="col"
      className={className}
      aria-sort={active ? (descending ? "descending" : "ascending") : "none"}
    >
      <button
        type="button"
        className="sort"
        onClick={() => onSort(active && !descending ? `-${field}` : field)}
        aria-label={t("sortBy", { column: label })}
      >
        {label} {active ? (descending ? "▼" : "▲") : ""}
      </button>
    </th>
  );
}

/**
 * What the API said when the tenant's plan or options do not include something:
 * `plan_required` names the plans, `option_required` the option. `null` for anything else.
 */
export function refusal(error: unknown, t: TFunction): string | null {
  if (!(error instanceof ApiError) || error.status !== 403) return null;
  const details = (error.details ?? {}) as { plans?: string[]; option?: string };
  if (error.code === "plan_required") {
    return t("planRequired", { ns: "history", plans: (details.plans ?? []).join(", "), message: error.message });
  }
  if (error.code === "option_required") {
    return t("optionRequired", { ns: "history", option: details.option ?? "", message: error.message });
  }
  return null;
}

export function Refusal({ error }: { error: unknown }) {
  const { t } = useTranslation("history");
  const text = refusal(error, t);
  if (!text) return null;
  return (
    <p className="refusal" role="alert">
      {text}
    </p>
  );
}

/** One conversation, read-only: its facts and messages (History, Dispatch). */
export function ConversationView({ id, onClose }: { id: string; onClose?: () => void }) {
  const { t } = useTranslation("history");
  const when = useDateTime();
  const detail = useQuery({
    queryKey: ["conversation", id],
    queryFn: () =>
      unwrap(api.GET("/v1/conversations/{conversation_id}", { params: { path: { conversation_id: id } } })),
  });
  return (
    <section className="panel" aria-labelledby={`conversation-${id}`}>
      <h2 id={`conversation-${id}`}>{t("conversation")}</h2>
      {onClose && (
        <button type="button" className="secondary" onClick={onClose}>
          {t("closeView")}
        </button>
      )}
      {detail.isPending ? (
        <Loading />
      ) : detail.error ? (
        <Failed error={detail.error} retry={() => void detail.refetch()} />
      ) : (
        <>
          <dl className="facts">
            <dt>{t("channel")}</dt>
            <dd>{channelName(t, detail.data.channel_type)}</dd>
            <dt>{t("language")}</dt>
            <dd>{detail.data.language}</dd>
            <dt>{t("status")}</dt>
            <dd>{t(`statuses.${detail.data.status}`)}</dd>
            <dt>{t("opened")}</dt>
            <dd>{when(detail.data.opened_at)}</dd>
            <dt>{t("closed")}</dt>
            <dd>{when(detail.data.closed_at)}</dd>
            <dt>{t("topics")}</dt>
            <dd>{detail.data.topics.join(", ") || "—"}</dd>
          </dl>
          <h3>{t("messages")}</h3>
          <ol className="messages">
            {detail.data.messages.map((message) => (
              <li key={message.message_id} className={message.direction}>
                <div className="meta">
                  {t(`authors.${message.author}`)} · {when(message.at)}
                  {message.delivery_status ? ` · ${t(`deliveries.${message.delivery_status}`)}` : ""}
                  {message.delivery_error ? ` (${message.delivery_error})` : ""}
                </div>
                <div>{message.text}</div>
              </li>
            ))}
          </ol>
          {detail.data.notes.length > 0 && (
            <>
              <h3>{t("notes")}</h3>
              <ul>
                {detail.data.notes.map((note) => (
                  <li key={note.note_id}>
                    {when(note.at)}: {note.text}
                  </li>
                ))}
              </ul>
            </>
          )}
        </>
      )}
    </section>
  );
}
