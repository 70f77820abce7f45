import type { FeatureMessages } from "../../app/feature";

const messages: FeatureMessages = {
  nl: {
    nav: "FAQ",
    title: "Veelgestelde vragen",
    search: "Zoeken in de FAQ",
    searchButton: "Zoeken",
    none: "Geen vragen gevonden.",
    count_one: "{{count}} vraag",
    count_other: "{{count}} vragen",
  },
  fr: {
    nav: "FAQ",
    title: "Questions fréquentes",
    search: "Rechercher dans la FAQ",
    searchButton: "Rechercher",
    none: "Aucune question trouvée.",
    count_one: "{{count}} question",
    count_other: "{{count}} questions",
  },
  en: {
    nav: "FAQ",
    title: "Frequently asked questions",
    search: "Search the FAQ",
    searchButton: "Search",
    none: "No questions found.",
    count_one: "{{count}} question",
    count_other: "{{count}} questions",
  },
};

export default messages;
