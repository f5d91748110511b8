// The analysis as a library: pattern queries over the rollups or raw events, and their renderings.
export { analyze, combine, selectionPredicate, alignRange, RESOLUTIONS } from "./analyze";
export type { AnalysisRequest, PatternResult, PatternRow, Resolution, Selection, Series, Source } from "./analyze";
export { analysisConfigSchema, resolveConfig } from "./config";
export type { AnalysisConfig, ConfigFlags } from "./config";
export { UserError } from "./errors";
export { PATTERNS, patternKey, needsHours } from "./patterns";
export type { Hemisphere, Pattern } from "./patterns";
export { FORMATS, chartSpec, countMarks, toCsv, toHtml, toJson, toSvg, toTable } from "./render";
export { CARRY_HORIZON, windowStatisticsFlux } from "./stepFlux";
