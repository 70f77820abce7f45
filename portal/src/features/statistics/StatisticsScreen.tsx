/**
 * Statistics (Admin, Manager, Analyst): tabs for conversations, messages, end users and
 * topics (and the bot on the Bot plan), over a period of local days in the tenant's time
 * zone, by day, week or month. Each tab shows one report of the stats service: a chart and
 * a table of the same rows, and the CSV export of its series. The end-users tab exists only
 * for those the server allows it (`statistics.per_end_user` in the session's functions).
 */
import { lazy, Suspense, useState, type FormEvent, type ReactNode } from "react";
import { keepPreviousData, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { ApiError, statsApi, unwrap } from "../../api/client";
import { Failed, Field, FormError, Loading } from "../../components";
import { may, useSession } from "../../app/session";
import { daysBefore, today } from "../history/period";
import { Refusal, refusal } from "../history/ui";
import type { ChartRow } from "./Chart";

const Chart = lazy(() => import("./Chart"));

type Bucket = "day" | "week" | "month";
type ChannelType = "messenger" | "page_comments" | "whatsapp" | "webchat";
interface Period {
  from: string;
  to: string;
  bucket: Bucket;
  channel: "" | ChannelType;
}
type Row = Record<string, unknown>;
type TabId = "conversations" | "messages" | "endUsers" | "topics" | "bot";

const PATHS = {
  conversations: "/v1/stats/conversations",
  messages: "/v1/stats/messages",
  endUsers: "/v1/stats/end-users",
  topics: "/v1/stats/conversations/per-topic",
  bot: "/v1/stats/bot",
} as const;

function num(value: unknown): number {
  return typeof value === "number" ? value : 0;
}

function shown(value: unknown): string {
  return value === null || value === undefined ? "—" : String(value);
}

function queryOf(period: Period) {
  return {
    from: period.from,
    to: period.to,
    bucket: period.bucket,
    ...(period.channel ? { channel: period.channel } : {}),
  };
}

export function csvHref(path: string, period: Period): string {
  const params = new URLSearchParams({ ...queryOf(period), format: "csv" });
  return `${path}?${params.toString()}`;
}

export default function StatisticsScreen() {
  const { t } = useTranslation("statistics");
  const { data: session } = useSession();
  const zone = session?.time_zone || "Europe/Brussels";
  const initial: Period = { to: today(zone), from: daysBefore(today(zone), 29), bucket: "day", channel: "" };
  const [typed, setTyped] = useState<Period>(initial);
  const [period, setPeriod] = useState<Period>(initial);
  const tabs: TabId[] = ["conversations", "messages"];
  if (may(session, "statistics.per_end_user")) tabs.push("endUsers");
  tabs.push("topics");
  if (may(session, "chatbot")) tabs.push("bot");
  const [tab, setTab] = useState<TabId>("conversations");
  const client = useQueryClient();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setPeriod(typed);
    // The same period again means "show me the latest figures".
    void client.invalidateQueries({ queryKey: ["stats"] });
  };
  const report = useQuery({
    queryKey: ["stats", tab, period],
    queryFn: () => unwrap(statsApi.GET(PATHS[tab], { params: { query: queryOf(period) } })),
    placeholderData: keepPreviousData,
    retry: false,
  });
  const periodError =
    report.error instanceof ApiError && report.error.status === 422 ? report.error.message : undefined;

  return (
    <section aria-labelledby="stats-title">
      <h1 id="stats-title">{t("title")}</h1>
      <form className="toolbar" onSubmit={submit} aria-label={t("period")}>
        <Field label={t("from")} error={periodError} hint={t("zone", { zone })}>
          <input type="date" value={typed.from} onChange={(e) => setTyped({ ...typed, from: e.target.value })} required />
        </Field>
        <Field label={t("to")}>
          <input type="date" value={typed.to} onChange={(e) => setTyped({ ...typed, to: e.target.value })} required />
        </Field>
        <Field label={t("bucket")}>
          <select value={typed.bucket} onChange={(e) => setTyped({ ...typed, bucket: e.target.value as Bucket })}>
            <option value="day">{t("buckets.day")}</option>
            <option value="week">{t("buckets.week")}</option>
            <option value="month">{t("buckets.month")}</option>
          </select>
        </Field>
        <Field label={t("channel")}>
          <select value={typed.channel} onChange={(e) => setTyped({ ...typed, channel: e.target.value as Period["channel"] })}>
            <option value="">{t("allChannels")}</option>
            {(["webchat", "messenger", "page_comments", "whatsapp"] as const).map((type) => (
              <option key={type} value={type}>
                {t(`channels.${type}`)}
              </option>
            ))}
          </select>
        </Field>
        <button type="submit">{t("show")}</button>
      </form>
      <div className="tabs" role="tablist" aria-label={t("tabs")}>
        {tabs.map((id) => (
          <button
            key={id}
            type="button"
            role="tab"
            id={`stats-tab-${id}`}
            aria-selected={tab === id}
            aria-controls="stats-panel"
            onClick={() => setTab(id)}
          >
            {t(`tab.${id}`)}
          </button>
        ))}
      </div>
      <div id="stats-panel" role="tabpanel" aria-labelledby={`stats-tab-${tab}`}>
        {report.isPending ? (
          <Loading />
        ) : report.error && (periodError || refusal(report.error, t)) ? (
          <>
            <Refusal error={report.error} />
            {periodError && <FormError message={periodError} />}
          </>
        ) : report.error ? (
          <Failed error={report.error} retry={() => void report.refetch()} />
        ) : (
          <Report tab={tab} body={report.data as ReportBody} period={period} />
        )}
      </div>
    </section>
  );
}

interface ReportBody {
  filters: { period_from: string; period_to: string; bucket: string; time_zone: string };
  summary: Row;
  breakdown: Row[];
  series: Row[];
}

function Report({ tab, body, period }: { tab: TabId; body: ReportBody; period: Period }) {
  const { t } = useTranslation("statistics");
  const echo = t("showing", {
    from: body.filters.period_from,
    to: body.filters.period_to,
    zone: body.filters.time_zone,
    bucket: t(`buckets.${body.filters.bucket}`),
  });
  const csv = (
    <p>
      <a href={csvHref(PATHS[tab], period)} download>
        {t("csv")}
      </a>
    </p>
  );
  const bucketName = t(`buckets.${body.filters.bucket}`);
  const byBucket = (measure: string, title: string) => {
    const rows = perBucket(body.series, measure);
    return (
      <Figures
        title={title}
        echo={echo}
        chart={rows.map(([bucket, value]) => ({ label: bucket, value }))}
        valueName={t("conversations")}
        csv={null}
        head={[t("periodColumn"), t("conversations")]}
        rows={rows.map(([bucket, value]) => [bucket, value])}
        total={[t("total"), rows.reduce((sum, [, value]) => sum + value, 0)]}
      />
    );
  };
  if (tab === "conversations") {
    const rows = body.breakdown;
    return (
      <>
      <Figures
        title={t("perChannel")}
        echo={echo}
        chart={rows.map((r) => ({ label: t(`channels.${String(r.channel_type)}`, String(r.channel_type)), value: num(r.conversations) }))}
        valueName={t("conversations")}
        csv={csv}
        head={[t("channel"), t("conversations"), t("assigned"), t("closed"), t("messages"), t("firstResponse"), t("queueWait"), t("handling")]}
        rows={rows.map((r) => [
          t(`channels.${String(r.channel_type)}`, String(r.channel_type)),
          num(r.conversations),
          num(r.assigned),
          num(r.closed),
          num(r.messages),
          shown(r.average_first_response_seconds),
          shown(r.average_queue_wait_seconds),
          shown(r.average_handling_seconds),
        ])}
        total={[
          t("total"),
          num(body.summary.conversations),
          num(body.summary.assigned),
          num(body.summary.closed),
          num(body.summary.messages),
          shown(body.summary.average_first_response_seconds),
          shown(body.summary.average_queue_wait_seconds),
          shown(body.summary.average_handling_seconds),
        ]}
      />
      {byBucket("conversations", t("perBucket", { bucket: bucketName }))}
      </>
    );
  }
  if (tab === "messages") {
    const rows = body.breakdown;
    return (
      <>
        <p>
          {t("messagesSummary", {
            conversations: num(body.summary.conversations),
            messages: num(body.summary.messages),
            average: shown(body.summary.average),
            median: shown(body.summary.median),
          })}
        </p>
        <Figures
          title={t("perConversation")}
          echo={echo}
          chart={rows.map((r) => ({ label: String(r.messages), value: num(r.conversations) }))}
          valueName={t("conversations")}
          csv={csv}
          head={[t("messagesInOne"), t("conversations")]}
          rows={rows.map((r) => [num(r.messages), num(r.conversations)])}
          total={[t("total"), num(body.summary.conversations)]}
        />
        {byBucket("conversations", t("perBucket", { bucket: bucketName }))}
      </>
    );
  }
  if (tab === "endUsers") {
    const rows = body.breakdown;
    return (
      <Figures
        title={t("perEndUser")}
        echo={echo}
        chart={rows.map((r) => ({ label: String(r.name ?? r.user_id), value: num(r.conversations) }))}
        valueName={t("conversations")}
        csv={csv}
        head={[t("endUser"), t("conversations"), t("messagesSent")]}
        rows={rows.map((r) => [String(r.name ?? r.user_id), num(r.conversations), num(r.messages_sent)])}
        total={[t("total"), num(body.summary.conversations), num(body.summary.messages_sent)]}
      />
    );
  }
  if (tab === "topics") {
    const rows = body.breakdown;
    return (
      <>
      <Figures
        title={t("perTopic")}
        echo={echo}
        chart={rows.map((r) => ({ label: String(r.topic), value: num(r.conversations) }))}
        valueName={t("conversations")}
        csv={csv}
        head={[t("topic"), t("conversations")]}
        rows={rows.map((r) => [String(r.topic), num(r.conversations)])}
        total={[t("total"), num(body.summary.conversations)]}
      />
      {byBucket("conversations", t("topicsPerBucket", { bucket: bucketName }))}
      </>
    );
  }
  return (
    <>
      <p>{echo}</p>
      <table className="data">
        <caption>{t("tab.bot")}</caption>
        <tbody>
          <tr>
            <th scope="row">{t("botConversations")}</th>
            <td className="num">{num(body.summary.bot_conversations)}</td>
          </tr>
          <tr>
            <th scope="row">{t("containment")}</th>
            <td className="num">{shown(body.summary.containment_rate)}</td>
          </tr>
          <tr>
            <th scope="row">{t("handoverWait")}</th>
            <td className="num">{shown(body.summary.average_handover_wait_seconds)}</td>
          </tr>
        </tbody>
      </table>
      {csv}
    </>
  );
}

/** The series summed per bucket (over channels or topics), in the series' order. */
export function perBucket(series: Row[], measure: string): [string, number][] {
  const sums = new Map<string, number>();
  for (const row of series) {
    const bucket = String(row.bucket);
    sums.set(bucket, (sums.get(bucket) ?? 0) + num(row[measure]));
  }
  return [...sums.entries()];
}

/** A chart and the table of the same rows, side by side. */
function Figures({
  title,
  echo,
  chart,
  valueName,
  csv,
  head,
  rows,
  total,
}: {
  title: string;
  echo: string;
  chart: ChartRow[];
  valueName: string;
  csv: ReactNode | null;
  head: string[];
  rows: (string | number)[][];
  total: (string | number)[];
}) {
  const { t } = useTranslation("statistics");
  return (
    <>
      <h2>{title}</h2>
      <p className="muted">{echo}</p>
      {rows.length === 0 ? (
        <p>{t("nothing")}</p>
      ) : (
        <div className={head.length <= 3 ? "columns" : "stacked"}>
          <Suspense fallback={<Loading />}>
            <Chart rows={chart} title={title} valueName={valueName} />
          </Suspense>
          <table className="data stats-table">
            <caption>{title}</caption>
            <thead>
              <tr>
                {head.map((label, i) => (
                  <th key={label} scope="col" className={i > 0 ? "num" : undefined}>
                    {label}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((row, r) => (
                <tr key={r}>
                  {row.map((cell, i) =>
                    i === 0 ? (
                      <th key={i} scope="row">
                        {cell}
                      </th>
                    ) : (
                      <td key={i} className="num">
                        {cell}
                      </td>
                    ),
                  )}
                </tr>
              ))}
            </tbody>
            <tfoot>
              <tr>
                {total.map((cell, i) =>
                  i === 0 ? (
                    <th key={i} scope="row">
                      {cell}
                    </th>
                  ) : (
                    <td key={i} className="num">
                      {cell}
                    </td>
                  ),
                )}
              </tr>
            </tfoot>
          </table>
        </div>
      )}
      {csv}
    </>
  );
}
