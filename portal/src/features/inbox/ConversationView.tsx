/** One conversation: who it is with and why, its messages, the reply box, and what one can do. */
import { Link, useParams } from "react-router";
import { useTranslation } from "react-i18next";
import { Failed, Loading, useDateTime } from "../../components";
import { useSession } from "../../app/session";
import { useConversation } from "./api";
import { Actions } from "./Actions";
import { Messages } from "./Messages";
import { Notes } from "./Notes";
import { ReplyBox } from "./ReplyBox";
import { Requirements } from "./Requirements";
import { VisitorPanel } from "./VisitorPanel";
import { WhyPanel } from "./WhyPanel";

export function ConversationView() {
  const { conversationId = "" } = useParams();
  const { t } = useTranslation("inbox");
  const when = useDateTime();
  const { data: session } = useSession();
  const conversation = useConversation(conversationId);
  if (conversation.isPending) return <Loading />;
  if (conversation.error) return <Failed error={conversation.error} retry={() => void conversation.refetch()} />;
  const c = conversation.data;
  const open = !["closed", "archived"].includes(c.status);
  const mine = c.assignee_id === session?.user_id;
  return (
    <article className="conversation" aria-labelledby="conversation-title">
      <Link className="back-to-queue" to="/inbox">
        {t("backToQueue")}
      </Link>
      <header className="conversation-head">
        <h2 id="conversation-title">
          {t(`channel.${c.channel_type}`, { defaultValue: c.channel_type })} · {c.language.toUpperCase()}{" "}
          <span className={`status status-${c.status}`}>{t(`status.${c.status}`)}</span>
        </h2>
        <p className="muted">{t("opened", { at: when(c.opened_at) })}</p>
        {c.topics.length > 0 && (
          <p>
            {t("topics")}: {c.topics.join(", ")}
          </p>
        )}
        {c.handover && <p className="notice">{t(`handover.${c.handover}`)}</p>}
        {c.last_error && (
          <p className="field-error" role="alert">
            {t("lastError", { error: c.last_error })}
          </p>
        )}
      </header>
      <Actions conversation={c} />
      {c.assignment && <WhyPanel assignment={c.assignment} assigneeId={c.assignee_id} />}
      <div className="conversation-body">
        <div className="conversation-main">
          <Messages messages={c.messages} />
          {open && mine && c.status !== "bot" && (
            <ReplyBox key={c.conversation_id} conversationId={c.conversation_id} />
          )}
          <Notes conversation={c} />
        </div>
        <aside className="conversation-side">
          {open && <Requirements key={`${c.conversation_id}-${c.language}-${c.required_competences.join()}`} conversation={c} />}
          <VisitorPanel visitorId={c.visitor_id} conversationId={c.conversation_id} />
        </aside>
      </div>
    </article>
  );
}
