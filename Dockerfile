# GPU container for the vit command: CUDA 13 + Java 25 + the built CLI with its kernels fatbin.
#   docker build -t vit22b .
#   docker run --gpus all vit22b doctor
#   docker run --gpus all -v "$PWD/runs:/runs" -v /path/to/dataset:/data:ro vit22b train --data /data --steps 1000
# Runs go to the volume /runs (train's default --out runs/train is /runs/train: WORKDIR is /);
# datasets are mounted read-only (e.g. at /data). Computing commands pick --backend cuda when a GPU
# is visible and say so (docker/entrypoint.sh); files under /runs belong to /runs' owner.
# Stage 1 builds with nvcc (kernels fatbin: sm_80, sm_90a, PTX compute_90), Maven and a JDK 25;
# stage 2 is NVIDIA's CUDA 13 runtime image (cuBLAS/cuBLASLt and NCCL included) plus a Java 25
# runtime and the jars.
# 13.1 matches Bytedeco's CUDA preset (org.bytedeco:cuda:13.1-...), whose JNI libraries link
# against the 13.1 cuBLAS/cuBLASLt; runs on drivers >= 580 through CUDA minor-version compatibility.
ARG CUDA_VERSION=13.1.0
ARG UBUNTU=ubuntu24.04

FROM eclipse-temurin:25-jdk AS jdk
FROM eclipse-temurin:25-jre AS jre

FROM nvidia/cuda:${CUDA_VERSION}-devel-${UBUNTU} AS build
COPY --from=jdk /opt/java/openjdk /opt/java/openjdk
ENV JAVA_HOME=/opt/java/openjdk PATH=/opt/java/openjdk/bin:/usr/local/cuda/bin:$PATH
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends maven \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# dependencies first, so that source edits reuse the cached layer
COPY pom.xml ./
COPY kernels/pom.xml kernels/
COPY engine/pom.xml engine/
COPY cli/pom.xml cli/
COPY bench/pom.xml bench/
RUN mvn -B -ntp -q -pl cli -am dependency:go-offline || true
COPY . .
RUN mvn -B -ntp -pl cli -am package -DskipTests \
    && jar tf kernels/target/vit22b-kernels-0.1.0-SNAPSHOT.jar | grep -q vit22b/kernels/vit22b.fatbin

FROM nvidia/cuda:${CUDA_VERSION}-runtime-${UBUNTU}
COPY --from=jre /opt/java/openjdk /opt/java/openjdk
ENV JAVA_HOME=/opt/java/openjdk PATH=/opt/java/openjdk/bin:$PATH
COPY --from=build /src/cli/target/vit.jar /opt/vit/vit.jar
COPY --from=build /src/cli/target/lib /opt/vit/lib
COPY scripts/jvm.sh /opt/vit/jvm.sh
COPY docker/entrypoint.sh /usr/local/bin/vit
RUN mkdir -p /runs
VOLUME /runs
WORKDIR /
ENTRYPOINT ["vit"]
CMD ["--help"]
