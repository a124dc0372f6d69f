# The predict function's container image: the esbuild bundle, onnxruntime-node for linux x64 only,
# and one registered model baked in (MODEL_DIR). Built by CodeBuild (infra/resources/image-build.yml)
# from the repository root after the model is copied into the build context:
#
#   aws s3 cp --recursive s3://$MODELS_BUCKET/models/$MODEL_NAME/$VERSION/ model/ --exclude report.html
#   docker build --platform linux/amd64 -t predict:$VERSION .
#   (or --build-arg MODEL_SRC=some/dir for a model elsewhere in the context)
#
# The model is the LAST layer: a new model reuses every layer above it from the cache, so a
# retrain pushes only a few hundred KB. Locally the same tree is assembled without Docker by the
# local container rebuild (bundle + model directory), see docs/ARCHITECTURE.md "Serving".

# ---- build: bundle the handler and prune onnxruntime-node to linux x64 ----------------------
FROM public.ecr.aws/lambda/nodejs:22 AS build
WORKDIR /src
COPY package.json package-lock.json .npmrc ./
# Scripts stay off (npm 11 policy, .npmrc): every native binary used here ships in its package.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY bin ./bin
COPY lib ./lib
COPY functions ./functions
COPY scripts/build.ts ./scripts/build.ts
COPY layers ./layers
COPY infra/zip.ts ./infra/zip.ts
# The commit the image is built from (no .git in the context): baked into the bundle (lineage).
ARG CODE_VERSION=unknown
ENV CODE_VERSION=${CODE_VERSION}
RUN node bin/run-ts.mjs scripts/build.ts --only predict \
 && node bin/run-ts.mjs layers/build-onnxruntime-layer.ts --out /src/dist/layers

# ---- runtime ---------------------------------------------------------------------------------
FROM public.ecr.aws/lambda/nodejs:22
# The same pruned tree as the zip layer: onnxruntime-node (bin/napi-v6/linux/x64 only) + common.
COPY --from=build /src/dist/layers/onnxruntime-node/nodejs/node_modules ${LAMBDA_TASK_ROOT}/node_modules
COPY --from=build /src/dist/functions/predict/index.mjs /src/dist/functions/predict/index.mjs.map ${LAMBDA_TASK_ROOT}/
ARG CODE_VERSION=unknown
ENV CODE_VERSION=${CODE_VERSION}
ENV NODE_OPTIONS=--enable-source-maps \
    POWERTOOLS_SERVICE_NAME=predict \
    MODEL_DIR=/opt/model
ARG MODEL_SRC=model
# explainer.json (the TreeSHAP trees behind the reasons of every answer) as a pattern: a version
# registered before explanations has none, and its image still builds and serves, without reasons.
COPY ${MODEL_SRC}/model.onnx ${MODEL_SRC}/explainer.jso[n] ${MODEL_SRC}/card.json /opt/model/
CMD ["index.handler"]
