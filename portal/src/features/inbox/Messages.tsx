/**
 * The messages, each with its author, its files and, for replies, the delivery status (and
 * error). Files are shown through the short-lived signed links the conversation view hands
 * out (images as their thumbnail, sound and video with the browser's player, documents as a
 * download); a file the visitor sent that was not kept says why.
 */
import { useTranslation } from "react-i18next";
import { useDateTime } from "../../components";
import type { Message } from "./api";

type Attachment = NonNullable<Message["attachments"]>[number];

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

function AttachmentView({ a }: { a: Attachment }) {
  if (a.kind === "image") {
    return (
      <a href={a.url} target="_blank" rel="noreferrer noopener">
        <img src={a.thumbnail_url ?? a.url} alt={a.file_name} className="attachment-image" />
      </a>
    );
  }
  if (a.kind === "audio") return <audio controls src={a.url} aria-label={a.file_name} />;
  if (a.kind === "video") return <video controls src={a.url} aria-label={a.file_name} className="attachment-video" />;
  return (
    <a href={a.url} download={a.file_name}>
      {a.file_name} ({size(a.size)})
    </a>
  );
}

export function Messages({ messages }: { messages: Message[] }) {
  const { t } = useTranslation("inbox");
  const when = useDateTime();
  return (
    <ol className="messages" aria-label={t("messages")}>
      {messages.map((m) => (
        <li key={m.message_id} className={`message message-${m.direction} author-${m.author}`}>
          <div className="message-meta">
            <span>{m.author === "system" ? t("outOfOffice") : t(`author.${m.author}`)}</span>
            <time dateTime={m.at}>{when(m.at)}</time>
          </div>
          {m.text && <p className="message-text">{m.text}</p>}
          {(m.attachments?.length || m.refused_attachments?.length) ? (
            <ul className="attachments" aria-label={t("attachments")}>
              {m.attachments?.map((a) => (
                <li key={a.attachment_id} className={`attachment attachment-${a.kind}`}>
                  <AttachmentView a={a} />
                </li>
              ))}
              {m.refused_attachments?.map((r, i) => (
                <li key={`refused-${i}`} className="attachment attachment-refused">
                  {t("refused")}: {r.file_name ?? r.kind} — {r.reason}
                </li>
              ))}
            </ul>
          ) : null}
          {m.direction === "out" && m.delivery_status && (
            <p className={`delivery delivery-${m.delivery_status}`}>
              {t(`delivery.${m.delivery_status}`)}
              {m.delivery_error ? `: ${m.delivery_error}` : ""}
            </p>
          )}
        </li>
      ))}
    </ol>
  );
}
