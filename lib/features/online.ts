/**
 * The online store's row for one customer: what /predict needs to compute the features of a
 * hypothetical new loan of that customer on any request date (DATA.md, "Online features").
 * Date-dependent features (age, years on the job) are computed at request time from the dates
 * stored here, so a row stays correct every day until the next snapshot.
 *
 * OWNED BY the features work (issue 3): fields may be added; keep them documented.
 */
export interface CustomerFeatureRow {
  id: string;
  snapshotId: string;
  /** Number of the customer's loans in the snapshot. */
  nbLoans: number;
  /** Sum of loan_amount over those loans. */
  sumLoanAmount: number;
  /** Most recent loan_date (YYYY-MM-DD). */
  lastLoanDate: string;
  birthday: string | null;
  /** null when unknown; the 365243 sentinel is stored as given (a date far in the future). */
  jobStartDate: string | null;
  flagOwnCar: 0 | 1 | null;
}
