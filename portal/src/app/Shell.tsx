/**
 * The frame around every screen: the navigation (derived from the session's `functions`),
 * presence always at hand, the language switch and sign-out.
 */
import { Suspense } from "react";
import { NavLink, Outlet } from "react-router";
import { useTranslation } from "react-i18next";
import { Loading } from "../components";
import { LANGUAGES, type Language } from "./feature";
import { chooseLanguage } from "./i18n";
import { PresenceSwitch } from "./PresenceSwitch";
import { features } from "./registry";
import { may, useSession, useSignOut, type Session } from "./session";

export function allowedFeatures(session: Session | null | undefined) {
  return features.filter((feature) => may(session, feature.access));
}

export function Shell() {
  const { t, i18n } = useTranslation("app");
  const { data: session } = useSession();
  const signOut = useSignOut();
  const entries = allowedFeatures(session).filter((feature) => feature.nav !== false);
  return (
    <div className="shell">
      <a className="skip" href="#main">
        {t("skipToContent")}
      </a>
      <header className="topbar">
        <span className="brand">{t("product")}</span>
        {session && (
          <span className="who">
            {session.first_name} {session.last_name} · {session.tenant_name}
          </span>
        )}
        <div className="tools">
          {may(session, "conversations") && session && <PresenceSwitch current={session.presence} />}
          <label className="language">
            <span>{t("language")}</span>
            <select
              value={i18n.language}
              onChange={(event) => chooseLanguage(event.target.value as Language)}
            >
              {LANGUAGES.map((language) => (
                <option key={language} value={language}>
                  {language.toUpperCase()}
                </option>
              ))}
            </select>
          </label>
          <button
            type="button"
            onClick={() => signOut.mutate(undefined)}
          >
            {t("signOut")}
          </button>
        </div>
      </header>
      <nav className="sidebar" aria-label={t("navigation")}>
        <ul>
          {entries.map((feature) => (
            <li key={feature.id}>
              <NavLink to={`/${feature.path}`}>{t(feature.navLabel, { ns: feature.id })}</NavLink>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" className="content">
        <Suspense fallback={<Loading />}>
          <Outlet />
        </Suspense>
      </main>
    </div>
  );
}
