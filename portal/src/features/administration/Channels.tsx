/**
 * Channels (Administrator): the supported types, the connected channels with their last
 * error, connecting one (Messenger, Page comments and WhatsApp with the page or phone
 * number id and credentials; the website chat with its allowed origins, and then its
 * install snippet), the out-of-office message and disconnecting. The website chat needs the
 * SDK option: the API's `option_required` is shown as such.
 */
import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { api, unwrap } from "../../api/client";
import type { components } from "../../api/schema/conversation";
import { Failed, Field, FormError, Loading } from "../../components";
import { channelName, Refusal, refusal, useDateTime } from "../history/ui";
import { formErrors, NO_ERRORS } from "../history/errors";

type Channel = components["schemas"]["ChannelOut"];
type ChannelType = Channel["channel_type"];

function lines(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((line) => line.trim())
    .filter(Boolean);
}

export function snippet(channel: Channel, origin: string = location.origin): string {
  return `<script src="${origin}/sdk/widget.js"\n        data-channel="${channel.public_key}" async></script>`;
}

export function Channels() {
  const { t } = useTranslation("administration");
  const client = useQueryClient();
  const when = useDateTime();
  const types = useQuery({ queryKey: ["channel-types"], queryFn: () => unwrap(api.GET("/v1/channels/types")) });
  const channels = useQuery({ queryKey: ["lookup", "channels"], queryFn: () => unwrap(api.GET("/v1/channels")) });
  const [selected, setSelected] = useState<string | null>(null);
  const disconnect = useMutation({
    mutationFn: (channel: Channel) =>
      unwrap(api.DELETE("/v1/channels/{channel_id}", { params: { path: { channel_id: channel.channel_id } } })),
    onSuccess: () => {
      setSelected(null);
      void client.invalidateQueries({ queryKey: ["lookup", "channels"] });
    },
  });
  const chosen = channels.data?.find((channel) => channel.channel_id === selected);
  return (
    <section aria-labelledby="channels-title">
      <h2 id="channels-title">{t("channels.title")}</h2>
      {channels.isPending ? (
        <Loading />
      ) : channels.error ? (
        <Failed error={channels.error} retry={() => void channels.refetch()} />
      ) : (
        <table className="data">
          <caption>{t("channels.connected", { count: channels.data.length })}</caption>
          <thead>
            <tr>
              <th scope="col">{t("name")}</th>
              <th scope="col">{t("channels.type")}</th>
              <th scope="col">{t("channels.state")}</th>
              <th scope="col">{t("channels.lastError")}</th>
              <th scope="col">{t("actions")}</th>
            </tr>
          </thead>
          <tbody>
            {channels.data.map((channel) => (
              <tr key={channel.channel_id}>
                <td>{channel.name}</td>
                <td>{channelName(t, channel.channel_type)}</td>
                <td>{channel.connected ? t("channels.isConnected") : t("channels.notConnected")}</td>
                <td>
                  {channel.last_error ? (
                    <span className="field-error">
                      {channel.last_error} ({when(channel.last_error_at)})
                    </span>
                  ) : (
                    "—"
                  )}
                </td>
                <td>
<div className="actions">
                  <button
                    type="button"
                    className="secondary"
                    aria-label={t("channels.settingsOf", { name: channel.name })}
                    onClick={() => setSelected(channel.channel_id)}
                  >
                    {t("channels.settings")}
                  </button>
                  <button
                    type="button"
                    className="danger"
                    aria-label={t("channels.disconnectOne", { name: channel.name })}
                    onClick={() => {
                      if (window.confirm(t("channels.confirmDisconnect", { name: channel.name }))) disconnect.mutate(channel);
                    }}
                  >
                    {t("channels.disconnect")}
                  </button>
                </div>
</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <FormError message={disconnect.error?.message} />
      {chosen && <ChannelSettings key={chosen.channel_id} channel={chosen} onClose={() => setSelected(null)} />}
      {types.data && (
        <>
          <h3>{t("channels.supported")}</h3>
          <ul>
            {types.data.map((known) => (
              <li key={known.channel_type}>
                {channelName(t, known.channel_type)}
                {known.needs_credentials ? ` — ${t("channels.withCredentials")}` : ""}
                {known.needs_option ? ` — ${t("channels.needsOption", { option: known.needs_option })}` : ""}
              </li>
            ))}
          </ul>
          <Connect types={types.data} onConnected={(channel) => setSelected(channel.channel_id)} />
        </>
      )}
      {types.error && <Failed error={types.error} />}
    </section>
  );
}

function Connect({
  types,
  onConnected,
}: {
  types: components["schemas"]["ChannelTypeOut"][];
  onConnected: (channel: Channel) => void;
}) {
  const { t } = useTranslation("administration");
  const client = useQueryClient();
  const [type, setType] = useState<ChannelType>(types[0]?.channel_type ?? "webchat");
  const [name, setName] = useState("");
  const [externalId, setExternalId] = useState("");
  const [appSecret, setAppSecret] = useState("");
  const [accessToken, setAccessToken] = useState("");
  const [verifyToken, setVerifyToken] = useState("");
  const [origins, setOrigins] = useState("");
  const [outOfOffice, setOutOfOffice] = useState("");
  const meta = types.find((known) => known.channel_type === type)?.needs_credentials ?? false;
  const connect = useMutation({
    mutationFn: () =>
      unwrap(
        api.POST("/v1/channels", {
          body: {
            channel_type: type,
            name,
            out_of_office_message: outOfOffice || null,
            ...(meta
              ? {
                  external_id: externalId,
                  credentials: { app_secret: appSecret, access_token: accessToken, verify_token: verifyToken },
                  allowed_origins: [],
                }
              : { allowed_origins: lines(origins) }),
          },
        }),
      ),
    onSuccess: (channel) => {
      void client.invalidateQueries({ queryKey: ["lookup", "channels"] });
      setName("");
      setAppSecret("");
      setAccessToken("");
      setVerifyToken("");
      onConnected(channel);
    },
  });
  const { fields, form } = connect.error ? formErrors(connect.error) : NO_ERRORS;
  const refused = refusal(connect.error, t);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    connect.mutate();
  };
  return (
    <form className="panel" onSubmit={submit} aria-labelledby="connect-title" noValidate>
      <h3 id="connect-title">{t("channels.connect")}</h3>
      <div className="filters">
        <Field label={t("channels.type")} error={fields.channel_type}>
          <select value={type} onChange={(e) => setType(e.target.value as ChannelType)}>
            {types.map((known) => (
              <option key={known.channel_type} value={known.channel_type}>
                {channelName(t, known.channel_type)}
                {known.needs_option ? ` (${t("channels.needsOption", { option: known.needs_option })})` : ""}
              </option>
            ))}
          </select>
        </Field>
        <Field label={t("name")} error={fields.name}>
          <input value={name} onChange={(e) => setName(e.target.value)} />
        </Field>
        {meta && (
          <>
            <Field label={t("channels.externalId")} error={fields.external_id} hint={t("channels.externalIdHint")}>
              <input value={externalId} onChange={(e) => setExternalId(e.target.value)} />
            </Field>
            <Field label={t("channels.appSecret")} error={fields.credentials}>
              <input type="password" autoComplete="off" value={appSecret} onChange={(e) => setAppSecret(e.target.value)} />
            </Field>
            <Field label={t("channels.accessToken")}>
              <input type="password" autoComplete="off" value={accessToken} onChange={(e) => setAccessToken(e.target.value)} />
            </Field>
            <Field label={t("channels.verifyToken")}>
              <input type="password" autoComplete="off" value={verifyToken} onChange={(e) => setVerifyToken(e.target.value)} />
            </Field>
          </>
        )}
      </div>
      {!meta && (
        <Field label={t("channels.origins")} hint={t("channels.originsHint")} error={fields.allowed_origins}>
          <textarea rows={3} value={origins} onChange={(e) => setOrigins(e.target.value)} />
        </Field>
      )}
      <Field label={t("channels.outOfOffice")} error={fields.out_of_office_message}>
        <textarea rows={2} value={outOfOffice} onChange={(e) => setOutOfOffice(e.target.value)} />
      </Field>
      {refused ? <Refusal error={connect.error} /> : <FormError message={form} />}
      <button type="submit" disabled={connect.isPending}>
        {t("channels.connectButton")}
      </button>
    </form>
  );
}

function ChannelSettings({ channel, onClose }: { channel: Channel; onClose: () => void }) {
  const { t } = useTranslation("administration");
  const client = useQueryClient();
  const [message, setMessage] = useState(channel.out_of_office_message ?? "");
  const [origins, setOrigins] = useState(channel.allowed_origins.join("\n"));
  const refresh = () => void client.invalidateQueries({ queryKey: ["lookup", "channels"] });
  const saveMessage = useMutation({
    mutationFn: () =>
      unwrap(
        api.PUT("/v1/channels/{channel_id}/out-of-office", {
          params: { path: { channel_id: channel.channel_id } },
          body: { message: message.trim() ? message : null },
        }),
      ),
    onSuccess: refresh,
  });
  const saveOrigins = useMutation({
    mutationFn: () =>
      unwrap(
        api.PUT("/v1/channels/{channel_id}/allowed-origins", {
          params: { path: { channel_id: channel.channel_id } },
          body: { allowed_origins: lines(origins) },
        }),
      ),
    onSuccess: refresh,
  });
  const messageErrors = saveMessage.error ? formErrors(saveMessage.error) : NO_ERRORS;
  const originErrors = saveOrigins.error ? formErrors(saveOrigins.error) : NO_ERRORS;
  return (
    <section className="panel" aria-labelledby="channel-settings-title">
      <h3 id="channel-settings-title">{t("channels.settingsOf", { name: channel.name })}</h3>
      {channel.channel_type === "webchat" && (
        <>
          <h4>{t("channels.snippet")}</h4>
          <p className="muted">{t("channels.snippetHint")}</p>
          <pre className="snippet" aria-label={t("channels.snippet")} tabIndex={0}>
            {snippet(channel)}
          </pre>
          <form
            onSubmit={(event) => {
              event.preventDefault();
              saveOrigins.mutate();
            }}
          >
            <Field label={t("channels.origins")} hint={t("channels.originsHint")} error={originErrors.fields.allowed_origins}>
              <textarea rows={3} value={origins} onChange={(e) => setOrigins(e.target.value)} />
            </Field>
            <FormError message={originErrors.form} />
            {saveOrigins.isSuccess && (
              <p className="ok" role="status">
                {t("saved")}
              </p>
            )}
            <button type="submit" disabled={saveOrigins.isPending}>
              {t("channels.saveOrigins")}
            </button>
          </form>
        </>
      )}
      <form
        onSubmit={(event) => {
          event.preventDefault();
          saveMessage.mutate();
        }}
      >
        <Field label={t("channels.outOfOffice")} error={messageErrors.fields.message}>
          <textarea rows={3} value={message} onChange={(e) => setMessage(e.target.value)} />
        </Field>
        <FormError message={messageErrors.form} />
        {saveMessage.isSuccess && (
          <p className="ok" role="status">
            {t("saved")}
          </p>
        )}
        <div className="actions">
          <button type="submit" disabled={saveMessage.isPending}>
            {t("channels.saveOutOfOffice")}
          </button>
          <button type="button" className="secondary" onClick={onClose}>
            {t("closeView")}
          </button>
        </div>
      </form>
    </section>
  );
}
