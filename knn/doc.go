// Package knn is the PatchCore baseline: a memory bank of normal patch
// features, optionally thinned by a greedy k-center coreset, and a patch score
// that is the exact Euclidean distance to the nearest bank entry.
//
// Reference: K. Roth et al., "Towards Total Recall in Industrial Anomaly
// Detection" (PatchCore, CVPR 2022), and its anomalib implementation
// (KCenterGreedy and PatchcoreModel.euclidean_dist).
//
// The data path is
//
//	features of normal images --BankBuilder.Add--> bank (N x d, float32)
//	bank --Build (Gaussian projection + greedy k-center)--> Model (M x d)
//	features of a query image --Model.Score--> p patch distances
//
// Patch features arrive the way the backbone produces them: one image's
// features are a d x p row-major matrix (a CHW map with C = d channels and
// p = H*W positions). The bank stores them as rows, one patch per row.
//
// The patch score of a query x is
//
//	s(x) = min_j ||x - m_j|| = sqrt(max(0, ||x||^2 + min_j (||m_j||^2 - 2 x.m_j)))
//
// which is what anomalib computes (the plain L2 distance, not squared). The
// x.m_j products are one float32 GEMM per bank chunk. The image score is left
// to the caller (docs/method.md: the max of the patch grid); anomalib's optional
// num_neighbors re-weighting of the image score is not implemented.
package knn
