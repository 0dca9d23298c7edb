/** The part of @lhncbc/ucum-lhc 7.x that HGD uses (the package ships no type declarations). */
declare module '@lhncbc/ucum-lhc' {
  export interface UcumConvertResult {
    status: 'succeeded' | 'failed' | 'error';
    toVal: number | null;
    msg: string[];
  }
  export interface UcumValidateResult {
    status: 'valid' | 'invalid' | 'error';
    ucumCode: string | null;
    unit?: { code: string; name: string; guidance: string | null };
    msg: string[];
  }
  export interface UcumConvertOptions {
    suggest?: boolean;
    molecularWeight?: number | null;
    charge?: number | null;
  }
  export class UcumLhcUtils {
    static getInstance(): UcumLhcUtils;
    convertUnitTo(fromUnitCode: string, fromVal: number, toUnitCode: string, options?: UcumConvertOptions): UcumConvertResult;
    validateUnitString(unit: string, suggest?: boolean, valConv?: 'validate' | 'convert'): UcumValidateResult;
  }
}
