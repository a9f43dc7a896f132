/** The release version, printed by `fluidity --version` and sent in the link hello. */
export const VERSION = "0.1.0";
