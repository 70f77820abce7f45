/** The messages, each with its author and, for replies, the delivery status (and error). */
import { useTranslation } from "react-i18next";
import { useDateTime } from "../../components";
import type { Message } from "./api";

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
          <p className="message-text">{m.text}</p>
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
