// The analysis as a library: pattern queries over the rollups or raw events, and their renderings.

export type { AnalysisRequest, PatternResult, PatternRow, Resolution, Selection, Series, Source } from "./analyze";
export { alignRange, analyze, combine, RESOLUTIONS, selectionPredicate } from "./analyze";
export type { AnalysisConfig, ConfigFlags } from "./config";
export { analysisConfigSchema, resolveConfig } from "./config";
export { UserError } from "./errors";
export type { Hemisphere, Pattern } from "./patterns";
export { needsHours, PATTERNS, patternKey } from "./patterns";
export { chartSpec, countMarks, FORMATS, toCsv, toHtml, toJson, toSvg, toTable } from "./render";
export { CARRY_HORIZON, windowStatisticsFlux } from "./stepFlux";
