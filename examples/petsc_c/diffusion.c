static char help[] = "2D variable-coefficient diffusion on a DMDA, solved by KSP; everything from options.\n"
                     "  -n <256>         cells per side\n"
                     "  -contrast <1e4>  coefficient ratio of the piecewise-constant field (1: Poisson)\n"
                     "  -blocks <16>     blocks per side of the piecewise-constant field\n"
                     "  -repeat <1>      set up and solve this many times; report the medians of repeats 2.. (warm)\n"
                     "Choose the learnsolve preconditioner with\n"
                     "  -pc_type python -pc_python_type learnsolve.petsc.PC -learnsolve_pc vcycle-2d\n";

#include <petscdmda.h>
#include <petscksp.h>

/* Cell coefficient: 1 or `contrast` on a blocks x blocks partition of the unit square, chosen by a
   hash of the block index so that every rank count sees the same field. */
static PetscReal Coefficient(PetscInt i, PetscInt j, PetscInt n, PetscInt blocks, PetscReal contrast)
{
  unsigned int h = (unsigned int)(i * blocks / n) * 73856093u ^ (unsigned int)(j * blocks / n) * 19349663u;
  h ^= h >> 13;
  h *= 0x5bd1e995u;
  h ^= h >> 15;
  return (h & 1u) ? contrast : 1.0;
}

/* Face coefficient: harmonic mean of the two cells; a Dirichlet boundary face (k2 < 0) gets 2 k1. */
static PetscReal Face(PetscReal k1, PetscReal k2)
{
  return k2 < 0 ? 2.0 * k1 : 2.0 * k1 * k2 / (k1 + k2);
}

/* median of m timings (sorts them in place) */
static double Median(double *t, PetscInt m)
{
  for (PetscInt i = 1; i < m; i++)
    for (PetscInt j = i; j > 0 && t[j - 1] > t[j]; j--) {
      double s = t[j];
      t[j]     = t[j - 1];
      t[j - 1] = s;
    }
  return m % 2 ? t[m / 2] : 0.5 * (t[m / 2 - 1] + t[m / 2]);
}

int main(int argc, char **argv)
{
  DM          da;
  Mat         A;
  Vec         b, x, r;
  KSP         ksp;
  PC          pc;
  PetscInt    n = 256, blocks = 16, repeat = 1, its, xs, ys, xm, ym;
  PetscReal   contrast = 1e4, h, rnorm, bnorm;
  PetscMPIInt size;
  PCType      pctype;
  KSPType     ksptype;
  char        name[256] = "";
  PetscBool   has_name;
  double      tsetup[64], tsolve[64], first_setup, setup, solve;
  KSPConvergedReason reason;

  PetscFunctionBeginUser;
  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  /* lets PETSc load preconditioners written in Python (-pc_type python) */
  PetscCall(PetscPythonInitialize(NULL, NULL));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-n", &n, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-blocks", &blocks, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-contrast", &contrast, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-repeat", &repeat, NULL));
  PetscCheck(repeat >= 1 && repeat <= 64, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-repeat must be 1..64");
  h = 1.0 / n;

  PetscCall(DMDACreate2d(PETSC_COMM_WORLD, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE, DMDA_STENCIL_STAR, n, n,
                         PETSC_DECIDE, PETSC_DECIDE, 1, 1, NULL, NULL, &da));
  PetscCall(DMSetFromOptions(da));
  PetscCall(DMSetUp(da));
  PetscCall(DMCreateMatrix(da, &A));
  PetscCall(DMDAGetCorners(da, &xs, &ys, NULL, &xm, &ym, NULL));
  for (PetscInt j = ys; j < ys + ym; j++) {
    for (PetscInt i = xs; i < xs + xm; i++) {
      MatStencil  row = {0}, col[5] = {{0}};
      PetscScalar v[5];
      PetscInt    nc = 0;
      PetscReal   k = Coefficient(i, j, n, blocks, contrast), diag = 0, f;
      const PetscInt di[4] = {-1, 1, 0, 0}, dj[4] = {0, 0, -1, 1};
      row.i = i;
      row.j = j;
      for (int q = 0; q < 4; q++) {
        PetscInt ii = i + di[q], jj = j + dj[q];
        PetscBool inside = (ii >= 0 && ii < n && jj >= 0 && jj < n);
        f = Face(k, inside ? Coefficient(ii, jj, n, blocks, contrast) : -1.0);
        diag += f;
        if (inside) {
          col[nc].i = ii;
          col[nc].j = jj;
          v[nc++] = -f;
        }
      }
      col[nc].i = i;
      col[nc].j = j;
      v[nc++] = diag;
      PetscCall(MatSetValuesStencil(A, 1, &row, nc, col, v, INSERT_VALUES));
    }
  }
  PetscCall(MatAssemblyBegin(A, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(A, MAT_FINAL_ASSEMBLY));
  PetscCall(MatSetOption(A, MAT_SYMMETRIC, PETSC_TRUE));
  PetscCall(DMCreateGlobalVector(da, &b));
  PetscCall(VecDuplicate(b, &x));
  PetscCall(VecDuplicate(b, &r));
  PetscCall(VecSet(b, h * h));

  PetscCall(KSPCreate(PETSC_COMM_WORLD, &ksp));
  PetscCall(KSPSetDM(ksp, da));
  PetscCall(KSPSetDMActive(ksp, PETSC_FALSE));
  PetscCall(KSPSetOperators(ksp, A, A));
  PetscCall(KSPSetFromOptions(ksp));
  for (PetscInt rep = 0; rep < repeat; rep++) {
    double t0, t1, t2;
    if (rep > 0) { /* a "new" matrix: the next KSPSetUp rebuilds the preconditioner */
      PetscCall(MatAssemblyBegin(A, MAT_FINAL_ASSEMBLY)); /* bumps A's state */
      PetscCall(MatAssemblyEnd(A, MAT_FINAL_ASSEMBLY));
      PetscCall(KSPSetOperators(ksp, A, A));
    }
    PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
    t0 = MPI_Wtime();
    PetscCall(KSPSetUp(ksp));
    t1 = MPI_Wtime();
    PetscCall(KSPSolve(ksp, b, x));
    t2 = MPI_Wtime();
    tsetup[rep] = t1 - t0;
    tsolve[rep] = t2 - t1;
  }
  first_setup = tsetup[0];
  setup       = Median(repeat > 1 ? tsetup + 1 : tsetup, repeat > 1 ? repeat - 1 : 1);
  solve       = Median(repeat > 1 ? tsolve + 1 : tsolve, repeat > 1 ? repeat - 1 : 1);

  PetscCall(KSPGetIterationNumber(ksp, &its));
  PetscCall(KSPGetConvergedReason(ksp, &reason));
  PetscCall(MatMult(A, x, r));
  PetscCall(VecAYPX(r, -1.0, b));
  PetscCall(VecNorm(r, NORM_2, &rnorm));
  PetscCall(VecNorm(b, NORM_2, &bnorm));
  PetscCall(KSPGetType(ksp, &ksptype));
  PetscCall(KSPGetPC(ksp, &pc));
  PetscCall(PCGetType(pc, &pctype));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-learnsolve_pc", name, sizeof(name), &has_name));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD,
                        "diffusion %" PetscInt_FMT "^2 contrast %g ranks %d: ksp %s pc %s%s%s  its %" PetscInt_FMT
                        " (%s)  setup %.3f s  solve %.3f s  true relres %.2e  (first set-up %.3f s, repeats %" PetscInt_FMT ")\n",
                        n, (double)contrast, size, ksptype, pctype, has_name ? " " : "", has_name ? name : "", its,
                        KSPConvergedReasons[reason], setup, solve, (double)(rnorm / bnorm), first_setup, repeat));

  PetscCall(VecDestroy(&r));
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&b));
  PetscCall(MatDestroy(&A));
  PetscCall(KSPDestroy(&ksp));
  PetscCall(DMDestroy(&da));
  PetscCall(PetscFinalize());
  return reason > 0 ? 0 : 1;
}
